/* gn_arch.h - the architectures `train` builds in code, by name.
 *
 * resnet20   CIFAR-style ResNet-20 (He et al. 2016, option B shortcuts):
 *            the architecture of tests/fixtures/resnet20_fmnist.onnx, with
 *            the PyTorch module names (conv1, bn1, layer1.0.conv1, ...,
 *            layer2.0.downsample.0, fc).
 * mbv2-tiny  a small MobileNetV2 (Sandler et al. 2018) for 28x28 inputs.
 * resnet-bneck  a small Bottleneck ResNet for 28x28 inputs: three stages of
 *            two torchvision (v1.5) Bottlenecks of width 16, 32, 64.
 * resnet18, resnet50, mobilenet_v2  torchvision's ImageNet networks.
 * The exact layer tables are in man/man1/train.1.
 *
 * Initialisation (documented in train(1)): conv weights kaiming-normal,
 * std = sqrt(2 / fan_in) with fan_in = Cin/groups*KH*KW (PyTorch's
 * kaiming_normal_(mode="fan_in", nonlinearity="relu")); Linear weight and
 * bias U(-1/sqrt(I), 1/sqrt(I)) (PyTorch's nn.Linear default); BatchNorm
 * gamma 1, beta 0, running mean 0, running variance 1, momentum 0.1, eps 1e-5.
 * What this does not do: train, or read files. */
#ifndef GN_ARCH_H
#define GN_ARCH_H

#include <stdint.h>

#include "gn_graph.h"

/* Names accepted by gn_arch_build, comma-separated (for messages and help). */
const char *gn_arch_list(void);
/* 1 if gn_arch_build knows `name`, else 0. */
int gn_arch_exists(const char *name);

/* Builds architecture `name` for inputs (C,H,W) and `classes` outputs, its
 * parameters drawn from stream 0 of `seed`, and finalizes it. Input tensor
 * "input", output tensor "logits". Returns 0 and the new graph in *out
 * (caller frees with gn_graph_free); on failure (unknown name, an input too
 * small for the net) returns an error, with a message, and *out untouched. */
int gn_arch_build(const char *name, int C, int H, int W, int classes, uint64_t seed,
                  gn_graph **out);

/* Number of trainable parameter values: every parameter except BatchNorm
 * running statistics. */
size_t gn_arch_count_trainable(const gn_graph *g);

#endif
