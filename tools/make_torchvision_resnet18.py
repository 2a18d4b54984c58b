#!/usr/bin/python3
"""Writes a torchvision-format resnet18 checkpoint, as torchvision's resnet18-f37072fd.pth is laid out
(torch.save of torchvision.models.resnet18().state_dict(): conv1, bn1, layer1..4, fc), with seeded random
weights instead of ImageNet's, for the playground's pretrained-encoder test (test/playground/). About 45 MB:
written into a temporary folder at test time, never committed. BatchNorm statistics are randomised too, so
that a mix-up of running_mean / running_var or weight / bias shows.

  /usr/bin/python3 tools/make_torchvision_resnet18.py OUT.pth [--seed 0]
"""

import argparse

import torch
import torchvision


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    model = torchvision.models.resnet18()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(int(torch.randint(1, 1000, ())))
    torch.save(model.state_dict(), args.out)
    print(f"{args.out}: torchvision {torchvision.__version__} resnet18, seed {args.seed}, {len(model.state_dict())} tensors")


if __name__ == "__main__":
    main()
