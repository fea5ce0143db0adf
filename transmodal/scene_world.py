"""What the models trained on the generated scene world (training/scenes) know, for the executors that
use them to say in their errors and flags (no torch needed to import it)."""

SCENE_WORLD = (
    "circles, squares, triangles, diamonds and stars, red, green, blue, yellow, purple, orange or white, big or "
    "small, one to three of them, above, below, left or right of each other"
)

# Below this confidence that an input is of the scene world (or that a drawing shows what was asked) the
# executors flag the document for a person to check: measured in training/scenes/README.md, "Bad input".
LOW_CONFIDENCE = 0.5
