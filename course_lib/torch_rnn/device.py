"""Device selection and timing helpers for the PyTorch reference.

Everything in :mod:`course_lib.torch_rnn` is device-agnostic: parameters live wherever the
module was moved with ``.to(device)``, and the time loops never read a tensor value back to the
host (no ``.item()``, no Python ``if`` on a tensor), so a GPU can queue the whole sequence
without waiting.
"""

from __future__ import annotations

import torch

__all__ = ["default_device", "available_devices", "resolve_device", "synchronize"]


def _mps_available() -> bool:
    # torch.backends.mps exists on every build since 1.12, but guard older or stripped builds.
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[torch.device]:
    """The accelerators this process can use, best first, always ending with the CPU.

    Returns
    -------
    list of torch.device
        e.g. ``[device('cuda'), device('cpu')]`` on a CUDA machine, ``[device('cpu')]`` here.
    """
    devices = []
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    if _mps_available():
        devices.append(torch.device("mps"))
    devices.append(torch.device("cpu"))
    return devices


def default_device() -> torch.device:
    """The best device available: CUDA, then Apple's MPS, then the CPU.

    Returns
    -------
    torch.device
        ``device('cuda')``, ``device('mps')`` or ``device('cpu')``.

    Examples
    --------
    >>> from course_lib.torch_rnn import LSTM, default_device
    >>> model = LSTM(8, 16).to(default_device())
    """
    return available_devices()[0]


def resolve_device(device=None) -> torch.device:
    """The device a user asked for: ``None``/``'auto'`` -> :func:`default_device`, else
    ``torch.device(device)`` ('cpu', 'cuda', 'cuda:1', 'mps' or a torch.device).

    Raises ValueError naming ``device`` for anything torch cannot parse.
    """
    if device is None or device == "auto":
        return default_device()
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device: expected 'auto', 'cpu', 'cuda', 'cuda:0', 'mps' or a "
                         f"torch.device, got {device!r} ({e})") from None


def synchronize(device: torch.device | str | None = None) -> None:
    """Wait until every kernel queued on ``device`` has finished (a no-op on the CPU).

    GPU kernels run asynchronously, so a wall-clock measurement around a forward pass only
    measures the queueing unless the device is synchronized before reading the clock.

    Parameters
    ----------
    device : torch.device, str or None
        The device to wait for; ``None`` means :func:`default_device`.
    """
    device = torch.device(device) if device is not None else default_device()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
