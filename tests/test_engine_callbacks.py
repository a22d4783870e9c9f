import torch
from torch import nn

from gcvideo.engine.callbacks import update_bn_stats


class Wrapper(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv3d(3, 4, 1), nn.BatchNorm3d(4))

    def batch_video(self, batch):
        return batch["video"]

    def forward(self, x):
        return self.net(x)


def test_precise_bn_gives_the_exact_mean_of_the_batches():
    torch.manual_seed(0)
    module = Wrapper()
    batches = [{"video": torch.randn(2, 3, 2, 4, 4) * (i + 1) + i} for i in range(5)]
    bn = module.net[1]
    seen = update_bn_stats(module, [bn], batches, num_batches=4)
    assert seen == 4
    with torch.no_grad():
        feats = [module.net[0](b["video"]) for b in batches[:4]]
    means = torch.stack([f.mean(dim=(0, 2, 3, 4)) for f in feats])
    variances = torch.stack([f.var(dim=(0, 2, 3, 4), unbiased=True) for f in feats])
    torch.testing.assert_close(bn.running_mean, means.mean(0), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(bn.running_var, variances.mean(0), rtol=1e-4, atol=1e-5)
    assert bn.momentum == 0.1 and module.training            # restored
