"""trtops.reference against torchvision.ops on CPU (tier 1: every machine)."""
