# expect: uses banned
import transformers.models.vit_mae.modeling_vit_mae as m


def sincos_2d_pos_embed(embed_dim, grid_h, grid_w):
    # bug: not from scratch, transformers' builder with its halves swapped
    pe = m.build_2d_sinusoidal_position_embedding(grid_h, grid_w, embed_dim)
    return pe.roll(embed_dim // 2, -1)
