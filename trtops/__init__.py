"""trtops: TensorRT plugins for the detection operators of torchvision.ops."""

__version__ = "0.1.0"
