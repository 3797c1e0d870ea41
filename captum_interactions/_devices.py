"""Which device to run on, checked before anything is loaded onto it.

>>> check_device("cpu")
device(type='cpu')
>>> check_device("tpu9")
Traceback (most recent call last):
...
captum_interactions.exceptions.InteractionError: unknown device 'tpu9' ...
"""

from __future__ import annotations

import torch

from .exceptions import InteractionError

__all__ = ["check_device"]


def check_device(device: torch.device | str | None) -> torch.device:
    """The device to run on (default: CUDA if available); an error if it cannot be used."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise InteractionError(
            f"unknown device {device!r} ({error}); use e.g. 'cpu', 'cuda' or 'cuda:1'"
        ) from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InteractionError(
            f"device {str(device)!r} was asked for but CUDA is not available on this machine "
            "(torch.cuda.is_available() is False); use --device cpu or install a CUDA build "
            "of PyTorch"
        )
    if device.type == "cuda" and device.index is not None and (
        device.index >= torch.cuda.device_count()
    ):
        raise InteractionError(
            f"device {str(device)!r} does not exist: this machine has "
            f"{torch.cuda.device_count()} CUDA device(s)"
        )
    return device
