"""
Our optimizers on torch.distributed: two processes with the gloo backend on 127.0.0.1 train under
DistributedDataParallel, and with ZeroRedundancyOptimizer, and must end where one process training on
the combined batch ends. Both processes are spawned once for the whole module; the parent compares.
"""

import contextlib
import copy
import datetime
import os
import socket
import time

import pytest
import torch
import torch.multiprocessing as mp

import labml_opt
from labml_opt.accumulate import GradientAccumulation
from labml_opt.distributed import batches, make_model, shard, train_step
from tests.optimizers.parity import max_difference

WORLD_SIZE = 2
STEPS = 6
BATCH_SIZE = 8
DTYPE = torch.float64
# Generous, for a loaded machine: importing torch alone can take 10 s there. A normal run takes far less.
TIMEOUT_SECONDS = 120
TOLERANCE = 1e-10

# Optimizers to run under DDP: name -> constructor.
DDP_CASES = {
    'Adam': lambda params: labml_opt.Adam(params, lr=1e-2, weight_decay=1e-2),
    'SGD-momentum': lambda params: labml_opt.SGD(params, lr=5e-2, momentum=0.9, nesterov=True),
    'RMSprop-centered-momentum': lambda params: labml_opt.RMSprop(params, lr=1e-2, centered=True, momentum=0.5),
    'Adagrad': lambda params: labml_opt.Adagrad(params, lr=5e-2),
    'Adadelta': lambda params: labml_opt.Adadelta(params),
}
# Micro-batches per step on each process in the gradient-accumulation case; SGD's step shows any error of scale.
MICRO_BATCHES = 2
ACCUMULATED_CASE = 'SGD-momentum'
# Optimizers to run as ZeroRedundancyOptimizer's optimizer_class: name -> (class, keyword arguments).
ZERO_CASES = {
    'Adam': (labml_opt.Adam, dict(lr=1e-2)),
    'RMSprop': (labml_opt.RMSprop, dict(lr=1e-2, momentum=0.5, centered=True)),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def worker(rank: int, port: int, path: str):
    """One process: every DDP case, then every ZeRO case; process 0 saves what it saw."""
    import torch.distributed as dist
    from torch.distributed.optim import ZeroRedundancyOptimizer
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=WORLD_SIZE,
                            timeout=datetime.timedelta(seconds=TIMEOUT_SECONDS))
    results = {'ddp': {}, 'zero': {}, 'accumulated': None}
    try:
        for name, make in DDP_CASES.items():
            model = DistributedDataParallel(make_model(dtype=DTYPE))
            optimizer = make(model.parameters())
            for batch in batches(STEPS, BATCH_SIZE, dtype=DTYPE):
                train_step(model, optimizer, shard(batch, rank, WORLD_SIZE))
            results['ddp'][name] = [p.detach().clone() for p in model.parameters()]

        # Gradient accumulation under DDP, as the accumulation page advises: micro-batches that do not
        # step skip the all-reduce, and the last one averages the accumulated gradients.
        model = DistributedDataParallel(make_model(dtype=DTYPE))
        optimizer = DDP_CASES[ACCUMULATED_CASE](model.parameters())
        accumulation = GradientAccumulation(MICRO_BATCHES, n_micro_batches=MICRO_BATCHES)
        for batch in batches(STEPS, BATCH_SIZE, dtype=DTYPE):
            x, y = shard(batch, rank, WORLD_SIZE)
            for i, (xm, ym) in enumerate(zip(x.chunk(MICRO_BATCHES), y.chunk(MICRO_BATCHES))):
                with contextlib.nullcontext() if accumulation.should_step(i) else model.no_sync():
                    accumulation.scale(torch.nn.functional.mse_loss(model(xm), ym), i).backward()
            optimizer.step()
            optimizer.zero_grad()
        results['accumulated'] = [p.detach().clone() for p in model.parameters()]

        for name, (optimizer_class, kwargs) in ZERO_CASES.items():
            model = DistributedDataParallel(make_model(dtype=DTYPE))
            optimizer = ZeroRedundancyOptimizer(model.parameters(), optimizer_class=optimizer_class, **kwargs)
            # Each process must hold only its part of the state.
            local_params = [None] * WORLD_SIZE
            dist.all_gather_object(local_params, len(optimizer.optim.param_groups[0]['params']))
            results['zero'].setdefault('local_params', {})[name] = local_params
            for step, batch in enumerate(batches(STEPS, BATCH_SIZE, dtype=DTYPE)):
                if step == STEPS // 2:
                    optimizer.consolidate_state_dict(to=0)
                    if rank == 0:
                        # A state_dict holds the live state tensors: copy it, as torch.save would.
                        results['zero'][name] = {
                            'checkpoint_params': [p.detach().clone() for p in model.parameters()],
                            'state_dict': copy.deepcopy(optimizer.state_dict())}
                train_step(model, optimizer, shard(batch, rank, WORLD_SIZE))
            if rank == 0:
                results['zero'][name]['final'] = [p.detach().clone() for p in model.parameters()]

        if rank == 0:
            torch.save(results, path)
        # Nobody leaves while the other may still be in a collective.
        dist.barrier()
    finally:
        dist.destroy_process_group()


def run_workers(path: str):
    """Spawn the processes, wait at most `TIMEOUT_SECONDS`, and kill them if they overrun."""
    port = free_port()
    os.environ['OMP_NUM_THREADS'] = '1'
    context = mp.start_processes(worker, args=(port, path), nprocs=WORLD_SIZE, join=False, start_method='spawn')
    deadline = time.monotonic() + TIMEOUT_SECONDS
    try:
        # `join` raises, with the child's traceback, if a process failed.
        while not context.join(timeout=1):
            if time.monotonic() > deadline:
                pytest.fail(f'the {WORLD_SIZE} distributed workers did not finish within {TIMEOUT_SECONDS} s')
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
                process.join()


@pytest.fixture(scope='module')
def results(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('distributed') / 'results.pt')
    run_workers(path)
    return torch.load(path)


def single_process(make, steps=STEPS, model=None, optimizer=None):
    """One process, the combined batch, the mean loss over it: what DDP must reproduce."""
    model = make_model(dtype=DTYPE) if model is None else model
    optimizer = make(model.parameters()) if optimizer is None else optimizer
    for step, batch in enumerate(batches(STEPS, BATCH_SIZE, dtype=DTYPE)):
        if step >= STEPS - steps:
            train_step(model, optimizer, batch)
    return model, optimizer


@pytest.mark.parametrize('name', list(DDP_CASES))
def test_ddp_training_equals_one_process_on_the_combined_batch(results, name):
    model, _ = single_process(DDP_CASES[name])
    assert max_difference(results['ddp'][name], model.parameters()) <= TOLERANCE
    # And training happened: the parameters moved from where they started.
    assert max_difference(results['ddp'][name], make_model(dtype=DTYPE).parameters()) > 1e-3


def test_ddp_with_gradient_accumulation_and_no_sync_equals_one_process_on_the_combined_batch(results):
    model, _ = single_process(DDP_CASES[ACCUMULATED_CASE])
    assert max_difference(results['accumulated'], model.parameters()) <= TOLERANCE


@pytest.mark.parametrize('name', list(ZERO_CASES))
def test_zero_training_equals_one_process_on_the_combined_batch(results, name):
    optimizer_class, kwargs = ZERO_CASES[name]
    model, _ = single_process(lambda params: optimizer_class(params, **kwargs))
    assert max_difference(results['zero'][name]['final'], model.parameters()) <= TOLERANCE


@pytest.mark.parametrize('name', list(ZERO_CASES))
def test_zero_shards_the_parameters_between_the_processes(results, name):
    local = results['zero']['local_params'][name]
    assert all(n > 0 for n in local)
    assert sum(local) == len(list(make_model().parameters()))


@pytest.mark.parametrize('name', list(ZERO_CASES))
def test_consolidated_zero_state_loads_into_a_plain_optimizer_and_resumes_identically(results, name):
    optimizer_class, kwargs = ZERO_CASES[name]
    saved = results['zero'][name]
    model = make_model(dtype=DTYPE)
    with torch.no_grad():
        for p, value in zip(model.parameters(), saved['checkpoint_params']):
            p.copy_(value)
    optimizer = optimizer_class(model.parameters(), **kwargs)
    optimizer.load_state_dict(saved['state_dict'])
    assert all(state['step'] == STEPS // 2 for state in optimizer.state.values())
    single_process(None, steps=STEPS - STEPS // 2, model=model, optimizer=optimizer)
    assert max_difference(saved['final'], model.parameters()) <= TOLERANCE
