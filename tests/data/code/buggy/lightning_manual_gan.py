"""Buggy twin of healthy/lightning_manual_gan.py: the generator's step comes before its backward."""
import lightning as L
import torch
import torch.nn.functional as F
from torch import nn


class GAN(L.LightningModule):
    def __init__(self, latent_dim: int = 64, lr: float = 2e-4):
        super().__init__()
        self.automatic_optimization = False
        self.save_hyperparameters()
        self.generator = nn.Sequential(nn.Linear(latent_dim, 256), nn.ReLU(), nn.Linear(256, 784), nn.Tanh())
        self.discriminator = nn.Sequential(nn.Linear(784, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))

    def training_step(self, batch, batch_idx):
        imgs, _ = batch
        opt_g, opt_d = self.optimizers()
        z = torch.randn(imgs.size(0), self.hparams.latent_dim, device=self.device)
        valid = torch.ones(imgs.size(0), 1, device=self.device)
        fake = torch.zeros(imgs.size(0), 1, device=self.device)

        opt_g.zero_grad()
        opt_g.step()
        g_loss = F.binary_cross_entropy_with_logits(self.discriminator(self.generator(z)), valid)
        self.manual_backward(g_loss)

        opt_d.zero_grad()
        real_loss = F.binary_cross_entropy_with_logits(self.discriminator(imgs.view(imgs.size(0), -1)), valid)
        fake_loss = F.binary_cross_entropy_with_logits(self.discriminator(self.generator(z).detach()), fake)
        d_loss = (real_loss + fake_loss) / 2
        self.manual_backward(d_loss)
        opt_d.step()
        self.log_dict({"g_loss": g_loss, "d_loss": d_loss}, prog_bar=True)

    def configure_optimizers(self):
        lr = self.hparams.lr
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
        return [opt_g, opt_d], []


if __name__ == "__main__":
    L.seed_everything(0)
    trainer = L.Trainer(max_epochs=10)
    trainer.fit(GAN(), torch.utils.data.DataLoader([(torch.randn(1, 28, 28), 0)] * 64, batch_size=16))
