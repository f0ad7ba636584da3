# Stub for fastconv._grad_avx2: the same source as fastconv._grad, built for avx2.
from ._grad import (avg_pool2d_grad as avg_pool2d_grad, conv2d_grad_input as conv2d_grad_input,
                    conv2d_grad_input_phases as conv2d_grad_input_phases,
                    conv2d_grad_weight as conv2d_grad_weight, max_pool2d_grad as max_pool2d_grad,
                    reversed_adjoint_kernel as reversed_adjoint_kernel,
                    PHASE_CHANNELS_F32 as PHASE_CHANNELS_F32,
                    PHASE_CHANNELS_F64 as PHASE_CHANNELS_F64,
                    WEIGHT_LAYOUTS as WEIGHT_LAYOUTS)
