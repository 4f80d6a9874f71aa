"""Config of the small SNN-delays model in examples/data/snn_delays_model.pt (the style of SNN-delays'
best_config_SHD.py: github.com/Thvnvtos/SNN-delays; values for the synthetic task of examples/train_snn_delays.py).
evsim reads it with `ast` (it never runs it): the surrogate line is skipped with a note."""

from spikingjelly.activation_based import surrogate


class Config:
    debug = False
    dataset = "shd"
    datasets_path = "examples/data"
    seed = 0
    model_type = "snn_delays"

    time_step = 10
    n_bins = 5

    epochs = 60
    batch_size = 50

    spiking_neuron_type = "lif"
    init_tau = 10.05  # in ms, can't be < time_step

    stateful_synapse_tau = 10.0
    stateful_synapse = False
    stateful_synapse_learnable = False

    n_inputs = 700 // n_bins
    n_hidden_layers = 2
    n_hidden_neurons = 24
    n_outputs = 4

    sparsity_p = 0
    dropout_p = 0.1
    use_batchnorm = True
    bias = False
    detach_reset = True

    loss = "sum"  # 'mean', 'max', 'spike_count', 'sum'
    loss_fn = "CEloss"
    output_v_threshold = 2.0 if loss == "spike_count" else 1e9

    v_threshold = 1.0
    alpha = 5.0
    surrogate_function = surrogate.ATan(alpha=alpha)

    init_w_method = "kaiming_uniform"

    init_tau = (init_tau + 1e-9) / time_step
    stateful_synapse_tau = (stateful_synapse_tau + 1e-9) / time_step

    optimizer_w = "adam"
    optimizer_pos = "adam"
    weight_decay = 1e-5
    lr_w = 1e-3
    lr_pos = 100 * lr_w if model_type == "snn_delays" else 0
    scheduler_w = "one_cycle"
    scheduler_pos = "cosine_a" if model_type == "snn_delays" else "none"
    max_lr_w = 5 * lr_w
    max_lr_pos = 5 * lr_pos
    t_max_w = epochs
    t_max_pos = epochs

    DCLSversion = "gauss" if model_type == "snn_delays" else "max"
    decrease_sig_method = "exp"
    kernel_count = 1

    max_delay = 250 // time_step
    max_delay = max_delay if max_delay % 2 == 1 else max_delay + 1  # to make kernel_size an odd number

    sigInit = max_delay // 2 if model_type == "snn_delays" else 0
    final_epoch = (1 * epochs) // 4 if model_type == "snn_delays" else 0

    left_padding = max_delay - 1
    right_padding = (max_delay - 1) // 2

    init_pos_method = "uniform"
    init_pos_a = -max_delay // 2
    init_pos_b = max_delay // 2

    augment = False
    use_wandb = False
    run_name = "evsim-example"
    run_info = f"||{model_type}||{dataset}||{time_step}ms||bins={n_bins}"
    wandb_run_name = run_name + f"||seed={seed}" + run_info
    wandb_group_name = run_name + run_info
    save_model_path = "snn_delays_REPL.pt"
