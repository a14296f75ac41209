"""Models: the SSPD network (backbone + TS stack + an rPPG head), the heads, what a trained model expects of
its input (:class:`InputSpec`) and building a network from a checkpoint's contents (sspd's format or an
rPPG-Toolbox state dict).

    network = build_network(network_spec(ModelConfig(), frames=64, view=InferenceView()))
    model = model_from_checkpoint(torch.load("last.pt", weights_only=True), source="last.pt")
    model.network, model.input                       # the network, its InputSpec

Place in the layering: above backbones, ssm, ema and augment, below the objectives (which read the
:class:`NetworkOutputs` built here) and the engine (which trains these networks and reads the files).
"""
from sspd.models.checkpoint import (CHECKPOINT_FORMAT, MODEL_FORMATS, SSPD_FORMAT, LoadedModel,
                                    model_from_checkpoint, sspd_network)
from sspd.models.heads import LinearProbeHead, SSPDPredictor, STRPPGHead
from sspd.models.input_spec import INPUT_KEY, InputSpec, derive_input_spec, read_input_spec
from sspd.models.network import (HEADS, OUTPUTS, SSPD_BACKBONE_DEFAULTS, ModelConfig, SSPDNetwork, SSPDOutputs,
                                 build_network, create_sspd_network, network_signal, network_spec)
from sspd.models.outputs import NetworkOutputs
from sspd.models.toolbox import TOOLBOX_FORMAT, TOOLBOX_VIEW, load_toolbox_state_dict

__all__ = ["CHECKPOINT_FORMAT", "MODEL_FORMATS", "SSPD_FORMAT", "LoadedModel", "model_from_checkpoint",
           "sspd_network", "LinearProbeHead", "SSPDPredictor", "STRPPGHead", "INPUT_KEY", "InputSpec",
           "derive_input_spec", "read_input_spec", "HEADS", "OUTPUTS", "SSPD_BACKBONE_DEFAULTS", "ModelConfig",
           "SSPDNetwork", "SSPDOutputs", "build_network", "create_sspd_network", "network_signal", "network_spec",
           "NetworkOutputs", "TOOLBOX_FORMAT", "TOOLBOX_VIEW", "load_toolbox_state_dict"]
