"""
Why an Adam loop with bfloat16 moments runs slower than the float32 one under Inductor on this CPU.

CPU time (one thread, `time.process_time`, minimum over interleaved repeats) of one step on a
million elements, which fit in the cache, so that the arithmetic and the loads and stores show
rather than the memory bandwidth:

* our AdamW's compiled step with float32 state and with bfloat16 state (stochastic rounding);
* the same Adam update written as a small function for `torch.compile`, with the moments in
  float32, with bfloat16 moments that are only loaded, only stored, both, loaded from one tensor
  and stored to another, and both but without the parameter update (which Inductor then
  vectorizes 32 wide instead of 16).

    python benchmarks/bfloat16_loop.py
"""

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import labml_opt  # noqa: E402

N = 1 << 20


def adam(param, grad, m_in, v_in, m_out, v_out):
    m = m_in.float() + 0.1 * (grad - m_in.float())
    v = v_in.float() * 0.999 + 0.001 * grad * grad
    param.sub_(1e-3 * m / (v.sqrt() + 1e-8))
    m_out.copy_(m)
    v_out.copy_(v)


def adam_without_param(param, grad, m_in, v_in, m_out, v_out):
    m = m_in.float() + 0.1 * (grad - m_in.float())
    v = v_in.float() * 0.999 + 0.001 * grad * grad
    m_out.copy_(m)
    v_out.copy_(v)


def tensors(dtype_in, dtype_out, same):
    m_in, v_in = torch.rand(N).to(dtype_in), torch.rand(N).to(dtype_in)
    m_out, v_out = (m_in, v_in) if same else (torch.rand(N).to(dtype_out), torch.rand(N).to(dtype_out))
    return [torch.randn(N), torch.randn(N), m_in, v_in, m_out, v_out]


def ours(state_dtype):
    param = torch.randn(N, requires_grad=True)
    param.grad = torch.randn(N) * 1e-2
    optimizer = labml_opt.AdamW([{'params': [param], 'fast': True}], state_dtype=state_dtype)
    return lambda: optimizer.step()


def main():
    torch.set_num_threads(1)
    bf16, f32 = torch.bfloat16, torch.float32
    compiled, compiled_without = torch.compile(adam, dynamic=False), torch.compile(adam_without_param, dynamic=False)
    cases = {
        'our AdamW, float32 state': ours(None),
        'our AdamW, bfloat16 state': ours(bf16),
        'Adam loop, float32 moments in place': (compiled, tensors(f32, f32, True)),
        'Adam loop, bfloat16 moments loaded only': (compiled, tensors(bf16, f32, False)),
        'Adam loop, bfloat16 moments stored only': (compiled, tensors(f32, bf16, False)),
        'Adam loop, bfloat16 moments in place': (compiled, tensors(bf16, bf16, True)),
        'Adam loop, bfloat16 moments into other tensors': (compiled, tensors(bf16, bf16, False)),
        'the same without the parameter update': (compiled_without, tensors(bf16, bf16, True)),
    }
    calls = {name: case if callable(case) else (lambda f=case[0], a=case[1]: f(*a)) for name, case in cases.items()}
    for call in calls.values():
        call()
        call()
    times = {name: [] for name in calls}
    for _ in range(20):
        for name, call in calls.items():
            for _ in range(5):
                start = time.process_time()
                call()
                times[name].append(time.process_time() - start)
    for name, values in times.items():
        print(f'{name:45s} {min(values) * 1e3:.3f} ms CPU per step of 1M elements')


if __name__ == '__main__':
    main()
