"""gcvideo: Global Context blocks (GCNet) for video action recognition."""
from .blocks import make_block
from .global_context import GlobalContext3d
from .insert import insert_blocks
from .models import create_model, list_models
from .non_local import NonLocal3d
from .simplified_non_local import SimplifiedNonLocal3d
from .squeeze_excite import SqueezeExcite3d

__all__ = ["GlobalContext3d", "SimplifiedNonLocal3d", "NonLocal3d", "SqueezeExcite3d",
           "make_block", "insert_blocks", "create_model", "list_models"]
__version__ = "0.1.0"
