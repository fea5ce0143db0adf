"""Loss curves of the training runs, saved as PNG beside each checkpoint."""

from __future__ import annotations


def plot_losses(history: list[dict], path: str, title: str) -> None:
    """Every logged value but the step and the time, against the step, as a PNG."""
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.5))
    for key in [key for key in history[0] if key not in ("step", "seconds")]:
        axis.plot([row["step"] for row in history], [row[key] for row in history], label=key)
    axis.set_xlabel("step")
    axis.set_title(title)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
