"""trtops.converters: PyTorch/torchvision and ONNX models -> networks that use trtops plugins.

Shipped from the repository's ``converters/`` folder as ``trtops.converters``.
"""
