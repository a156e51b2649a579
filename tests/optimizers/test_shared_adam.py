import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

import labml_opt
from labml_opt import SharedAdam, WeightDecay
from labml_opt.shared_adam import WorkerError, run_workers
from tests.optimizers.parity import TOLERANCE, max_difference

ROOT = Path(__file__).resolve().parents[2]
WORKERS, STEPS = 3, 40


def state_tensors(optimizer):
    return [value for state in optimizer.state.values() for value in state.values()]


def small_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))


@pytest.mark.timeout(60)
def test_state_is_created_at_construction_in_shared_memory_with_a_tensor_step():
    model = small_model()
    extra = torch.nn.Parameter(torch.zeros(5))
    optimizer = SharedAdam(model.parameters())
    optimizer.add_param_group({'params': [extra]})
    params = list(model.parameters()) + [extra]
    assert set(optimizer.state) == set(params)
    for param in params:
        state = optimizer.state[param]
        assert set(state) == {'step', 'exp_avg', 'exp_avg_sq'}
        assert state['step'].dtype == torch.int64 and state['step'].dim() == 0
        assert all(value.is_shared() for value in state.values())
    step = optimizer.state[extra]['step']
    extra.grad = torch.ones(5)
    optimizer.step()
    # The same tensor, counted in place: a worker holding it sees the new value
    assert optimizer.state[extra]['step'] is step and int(step) == 1


@pytest.mark.timeout(60)
def test_loaded_state_is_shared_and_copied():
    # That training continues as torch's Adam would is the contract test's interop check.
    model, twin = small_model(), small_model()
    adam = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        for param in model.parameters():
            param.grad = torch.ones_like(param)
        adam.step()
    saved = adam.state_dict()
    shared = SharedAdam(twin.parameters(), lr=1e-2)
    shared.load_state_dict(saved)
    for saved_state, state in zip(saved['state'].values(), shared.state.values()):
        assert all(value.is_shared() for value in state.values())
        assert state['step'].dtype == torch.int64 and int(state['step']) == 3
        # Copies, not the tensors of the dict that was loaded
        assert state['exp_avg'].data_ptr() != saved_state['exp_avg'].data_ptr()
        assert torch.equal(state['exp_avg_sq'], saved_state['exp_avg_sq'])


@pytest.mark.timeout(60)
def test_pickled_optimizer_keeps_adams_settings_and_its_lock():
    decay = WeightDecay(0.1, weight_decouple=True)
    optimizer = SharedAdam(small_model().parameters(), weight_decay=decay, optimized_update=False)
    copy = pickle.loads(pickle.dumps(optimizer))
    assert copy.optimized_update is False and copy.weight_decay.weight_decouple is True
    assert copy.lock is None


def step_constant_gradient(rank, model, optimizer, steps):
    """A worker: checks it sees shared state, then takes `steps` steps with gradient 1."""
    shared = [param.is_shared() for param in model.parameters()] + [value.is_shared() for value in state_tensors(optimizer)]
    if not all(shared):
        raise RuntimeError(f'worker {rank} sees state that is not shared: {shared}')
    if torch.get_num_threads() != 1:
        raise RuntimeError(f'worker {rank} runs {torch.get_num_threads()} threads')
    for _ in range(steps):
        for param in model.parameters():
            param.grad = torch.ones_like(param)
        optimizer.step()


# A spawned worker imports torch afresh: seconds on a quiet machine, and up to half a minute on
# a loaded one, so the spawn case runs two workers and gets a generous bound.
@pytest.mark.timeout(200)
@pytest.mark.parametrize('start_method, workers, bound, state_dtype',
                         [('fork', WORKERS, 60, None), ('spawn', 2, 150, None), ('fork', WORKERS, 60, torch.bfloat16)],
                         ids=['fork', 'spawn', 'fork-bfloat16'])
def test_workers_with_lock_update_the_one_shared_state_like_serial_adam(start_method, workers, bound, state_dtype):
    """
    Every worker applies the same gradient, so under the lock any order of the N k updates gives
    what one Adam computes in N k steps. That holds only if every worker updated the very
    tensors the parent holds: the moments, the parameters and the step. In `bfloat16` the random
    bits of stochastic rounding are drawn from the seed, the parameter's position and the shared
    step, so the workers end equal to the bit to one of our Adams with `bfloat16` state.
    """
    context = mp.get_context(start_method)
    model, reference = small_model(), small_model()
    model.share_memory()
    optimizer = SharedAdam(model.parameters(), lr=1e-2, lock=context.Lock(), state_dtype=state_dtype)
    assert all(value.is_shared() for value in state_tensors(optimizer))
    run_workers(step_constant_gradient, workers, (model, optimizer, STEPS), context=context, timeout=bound)

    if state_dtype is None:
        adam, tolerance = torch.optim.Adam(reference.parameters(), lr=1e-2), TOLERANCE[torch.float32]
    else:
        adam, tolerance = labml_opt.Adam(reference.parameters(), lr=1e-2, state_dtype=state_dtype), 0.
    for _ in range(workers * STEPS):
        for param in reference.parameters():
            param.grad = torch.ones_like(param)
        adam.step()
    for param, twin in zip(model.parameters(), reference.parameters()):
        assert int(optimizer.state[param]['step']) == workers * STEPS
        for key in ('exp_avg', 'exp_avg_sq'):
            assert optimizer.state[param][key].dtype == (state_dtype or torch.float32)
            difference = max_difference([optimizer.state[param][key]], [adam.state[twin][key]])
            assert difference <= tolerance
        assert max_difference([param], [twin]) <= tolerance


@pytest.mark.timeout(60)
def test_hogwild_workers_without_lock_all_count_into_the_shared_step():
    model = small_model()
    model.share_memory()
    optimizer = SharedAdam(model.parameters(), lr=1e-2)
    run_workers(step_constant_gradient, WORKERS, (model, optimizer, STEPS), context='fork', timeout=30)
    for param in model.parameters():
        # Racing increments may be lost, but a worker-local counter would leave the parent at 0
        assert STEPS < int(optimizer.state[param]['step']) <= WORKERS * STEPS
        assert torch.isfinite(param).all()


def fail_or_sleep(rank, failing_rank):
    if rank == failing_rank:
        raise ValueError(f'worker {rank} fails on purpose')
    time.sleep(120)


def sleep_forever(rank):
    time.sleep(120)


@pytest.mark.timeout(60)
def test_a_failing_worker_raises_naming_it_and_stops_the_others():
    started = time.monotonic()
    with pytest.raises(WorkerError, match='worker 1 of 3 failed with exit code 1'):
        run_workers(fail_or_sleep, 3, (1,), context='fork', timeout=50)
    assert time.monotonic() - started < 30
    assert mp.active_children() == []


@pytest.mark.timeout(60)
def test_workers_past_the_timeout_are_stopped_with_an_error():
    started = time.monotonic()
    with pytest.raises(WorkerError, match=r'workers \[0, 1\] of 2 still running after 1.0 s'):
        run_workers(sleep_forever, 2, context='fork', timeout=1.)
    assert time.monotonic() - started < 20
    assert mp.active_children() == []


def interrupt():
    raise KeyboardInterrupt


@pytest.mark.timeout(60)
def test_keyboard_interrupt_in_the_parent_stops_the_workers_before_propagating():
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_workers(sleep_forever, 2, context='fork', monitor=interrupt)
    # Stopped here, not by the interpreter's exit handlers
    assert mp.active_children() == []
    assert time.monotonic() - started < 20


PARENT = '''
import os, sys, time
from pathlib import Path
from labml_opt.shared_adam import run_workers

def work(rank, folder, failing_rank):
    Path(folder, f'{rank}.pid').write_text(str(os.getpid()))
    if rank == failing_rank:
        raise ValueError('worker fails on purpose')
    time.sleep(120)

if __name__ == '__main__':
    run_workers(work, 3, (sys.argv[1], int(sys.argv[2])), context='fork')
'''


def start_parent(tmp_path: Path, failing_rank: int) -> subprocess.Popen:
    script = tmp_path / 'parent.py'
    script.write_text(textwrap.dedent(PARENT))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # The parent starts with Ctrl-C's default action, as from a terminal, whatever this process
    # inherited or an earlier test left: a process that starts with SIGINT ignored (a backgrounded
    # `make test`) never raises KeyboardInterrupt, and Ctrl-C would do nothing
    return subprocess.Popen([sys.executable, str(script), str(tmp_path), str(failing_rank)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def gone(pid: int) -> bool:
    """No such process, or a zombie nobody will reap (PID 1 in a container may not)"""
    try:
        status = Path(f'/proc/{pid}/status').read_text()
    except FileNotFoundError:
        return True
    return '\nState:\tZ' in status


def worker_pids(folder: Path, n: int, bound: float):
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        files = sorted(folder.glob('*.pid'))
        if len(files) == n and all(f.read_text() for f in files):
            return [int(f.read_text()) for f in files]
        time.sleep(0.05)
    raise AssertionError(f'the workers did not start within {bound} s')


@pytest.mark.timeout(60)
def test_parent_process_exits_non_zero_naming_the_failed_worker(tmp_path):
    parent = start_parent(tmp_path, failing_rank=2)
    try:
        _, stderr = parent.communicate(timeout=40)
    finally:
        parent.kill()
    assert parent.returncode == 1
    assert 'WorkerError: worker 2 of 3 failed with exit code 1' in stderr
    assert wait_until_gone(worker_pids(tmp_path, 3, 1), 0)


def wait_until_gone(pids, bound: float) -> bool:
    """Wait for the workers to go; any that outlive `bound` are killed, so a failure leaves none behind"""
    deadline = time.monotonic() + bound
    while not all(gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [pid for pid in pids if not gone(pid)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    return not survivors


@pytest.mark.timeout(120)
def test_ctrl_c_in_the_parent_stops_every_worker(tmp_path):
    parent = start_parent(tmp_path, failing_rank=-1)
    try:
        pids = worker_pids(tmp_path, 3, 30)
        parent.send_signal(signal.SIGINT)
        # Stopping the workers takes at most 10 s (SIGTERM, then SIGKILL after 5 s), and the
        # workers sleep for 120 s: a parent that waited for them would not exit in time
        _, stderr = parent.communicate(timeout=60)
    finally:
        parent.kill()
    assert parent.returncode != 0
    assert 'KeyboardInterrupt' in stderr
    assert wait_until_gone(pids, 10)


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='workers follow their parent on Linux only')
@pytest.mark.timeout(60)
def test_workers_do_not_outlive_a_killed_parent(tmp_path):
    parent = start_parent(tmp_path, failing_rank=-1)
    try:
        pids = worker_pids(tmp_path, 3, 30)
    finally:
        parent.kill()
        parent.communicate(timeout=15)
    assert wait_until_gone(pids, 10)
