"""The "networks" suite: convolution layers copied from well-known networks.

``python -m fastconv.bench --suite networks`` times each against fastconv's own methods
and PyTorch (the peer a network's user compares with). Every row names its network and
layer; shapes are NHWC input * HWIO kernel, with the network's own stride, padding,
dilation and groups, at a batch that makes one call take milliseconds. The suite is a
sample: being fast on it must come from being fast in general.
"""
from .workloads import Workload


def _layer(network, layer, x_shape, w_shape, **kw):
    name = f"{network}/{layer}"
    return Workload(name=name, op="conv2d", x_shape=x_shape, w_shape=w_shape,
                    note=f"{network}: {layer}", **kw)


NETWORK_WORKLOADS = (
    # ResNet-18 / ResNet-50 (224x224 input)
    _layer("resnet18", "conv1 7x7/2", (2, 224, 224, 3), (7, 7, 3, 64), stride=2,
           padding="same"),
    _layer("resnet18", "layer1 3x3 64", (4, 56, 56, 64), (3, 3, 64, 64), padding="same"),
    _layer("resnet18", "layer2 3x3/2 64->128", (4, 56, 56, 64), (3, 3, 64, 128), stride=2,
           padding="same"),
    _layer("resnet18", "layer2 downsample 1x1/2", (4, 56, 56, 64), (1, 1, 64, 128), stride=2),
    _layer("resnet18", "layer3 3x3 256", (4, 14, 14, 256), (3, 3, 256, 256), padding="same"),
    _layer("resnet18", "layer4 3x3 512", (4, 7, 7, 512), (3, 3, 512, 512), padding="same"),
    _layer("resnet50", "layer1 1x1 256->64", (4, 56, 56, 256), (1, 1, 256, 64)),
    _layer("resnet50", "layer1 1x1 64->256", (4, 56, 56, 64), (1, 1, 64, 256)),
    _layer("resnet50", "layer3 1x1 1024->256", (4, 14, 14, 1024), (1, 1, 1024, 256)),
    # ResNeXt-50 32x4d: grouped 3x3
    _layer("resnext50", "layer1 3x3 g32 (4/group)", (4, 56, 56, 128), (3, 3, 4, 128),
           groups=32, padding="same"),
    _layer("resnext50", "layer3 3x3 g32 (16/group)", (4, 14, 14, 512), (3, 3, 16, 512),
           groups=32, padding="same"),
    # MobileNetV2 (224x224 input)
    _layer("mobilenetv2", "stem 3x3/2 3->32", (2, 224, 224, 3), (3, 3, 3, 32), stride=2,
           padding="same"),
    _layer("mobilenetv2", "block1 dw 3x3 32", (2, 112, 112, 32), (3, 3, 1, 32), groups=32,
           padding="same"),
    _layer("mobilenetv2", "block1 project 1x1 32->16", (2, 112, 112, 32), (1, 1, 32, 16)),
    _layer("mobilenetv2", "block2 expand 1x1 16->96", (2, 112, 112, 16), (1, 1, 16, 96)),
    _layer("mobilenetv2", "block2 dw 3x3/2 96", (2, 112, 112, 96), (3, 3, 1, 96), groups=96,
           stride=2, padding="same"),
    _layer("mobilenetv2", "block2 project 1x1 96->24", (2, 56, 56, 96), (1, 1, 96, 24)),
    _layer("mobilenetv2", "block3 dw 3x3 144", (2, 56, 56, 144), (3, 3, 1, 144), groups=144,
           padding="same"),
    _layer("mobilenetv2", "head 1x1 320->1280", (8, 7, 7, 320), (1, 1, 320, 1280)),
    # MobileNetV3 / EfficientNet-B0: 5x5 depthwise, odd channel counts
    _layer("efficientnet-b0", "stage3 dw 5x5/2 144", (2, 56, 56, 144), (5, 5, 1, 144),
           groups=144, stride=2, padding="same"),
    _layer("efficientnet-b0", "stage3 project 1x1 240->40", (2, 28, 28, 240),
           (1, 1, 240, 40)),
    _layer("mobilenetv3-large", "dw 5x5 72", (2, 56, 56, 72), (5, 5, 1, 72), groups=72,
           padding="same"),
    # VGG-16
    _layer("vgg16", "conv1_1 3x3 3->64", (1, 224, 224, 3), (3, 3, 3, 64), padding="same"),
    _layer("vgg16", "conv3_2 3x3 256", (1, 56, 56, 256), (3, 3, 256, 256), padding="same"),
    _layer("vgg16", "conv4_2 3x3 512", (1, 28, 28, 512), (3, 3, 512, 512), padding="same"),
    # U-Net (one-channel microscopy input)
    _layer("unet", "enc1 3x3 1->64", (1, 256, 256, 1), (3, 3, 1, 64), padding="same"),
    _layer("unet", "enc1 3x3 64", (1, 256, 256, 64), (3, 3, 64, 64), padding="same"),
    _layer("unet", "dec3 3x3 256->128", (1, 64, 64, 256), (3, 3, 256, 128), padding="same"),
    # YOLO
    _layer("yolov3-tiny", "conv1 3x3 3->16", (1, 416, 416, 3), (3, 3, 3, 16), padding="same"),
    _layer("yolov3-tiny", "conv2 3x3 16->32", (1, 208, 208, 16), (3, 3, 16, 32),
           padding="same"),
    _layer("yolov3-tiny", "head 1x1 512->255", (1, 13, 13, 512), (1, 1, 512, 255)),
    # DeepLabv3: atrous convolutions
    _layer("deeplabv3", "aspp 3x3 d12 256", (1, 33, 33, 256), (3, 3, 256, 256),
           dilation=(12, 12), padding="same"),
    _layer("deeplabv3", "layer4 3x3 d2 512", (1, 28, 28, 512), (3, 3, 512, 512),
           dilation=(2, 2), padding="same"),
    # LeNet-5 / CIFAR / MNIST
    _layer("lenet5", "c1 5x5 1->6", (256, 32, 32, 1), (5, 5, 1, 6)),
    _layer("lenet5", "c3 5x5 6->16", (256, 14, 14, 6), (5, 5, 6, 16)),
    _layer("cifar-cnn", "conv1 3x3 3->32", (128, 32, 32, 3), (3, 3, 3, 32), padding="same"),
    _layer("mnist-convnet", "conv1 3x3 1->32", (64, 28, 28, 1), (3, 3, 1, 32)),
    _layer("mnist-convnet", "conv2 3x3 32->64", (64, 26, 26, 32), (3, 3, 32, 64)),
    # Image processing (1-4 channels)
    _layer("image", "RGB 3x3 blur (depthwise)", (1, 1080, 1920, 3), (3, 3, 1, 3), groups=3,
           padding="same"),
    _layer("image", "RGBA 5x5 blur (depthwise)", (1, 720, 1280, 4), (5, 5, 1, 4), groups=4,
           padding="same"),
    _layer("image", "gray Sobel x/y 3x3 1->2", (1, 1024, 1024, 1), (3, 3, 1, 2),
           padding="same"),
    _layer("image", "RGB->YUV 1x1 3->3", (1, 1080, 1920, 3), (1, 1, 3, 3)),
)

# --quick: one row per kind of layer that used to fall off a cliff, and one that did not.
NETWORK_QUICK_NAMES = ("mobilenetv2/block1 project 1x1 32->16",
                       "mobilenetv2/block1 dw 3x3 32",
                       "resnext50/layer1 3x3 g32 (4/group)",
                       "lenet5/c3 5x5 6->16",
                       "image/RGB 3x3 blur (depthwise)",
                       "resnet18/layer1 3x3 64")


def select_network_workloads(only=None, quick=False):
    """The network layers to run: the --quick subset or all, filtered by comma-separated
    substrings of their names (any may match)."""
    from .workloads import _matching

    rows = [wl for wl in NETWORK_WORKLOADS if not quick or wl.name in NETWORK_QUICK_NAMES]
    return _matching(rows, only)
