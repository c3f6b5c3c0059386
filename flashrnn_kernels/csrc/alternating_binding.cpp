// Torch binding of the alternating backend: turns tensors into the strided views of
// alternating.h and launches on the current stream. The time loop and the GEMMs are in Python
// (flashrnn_kernels/backends/alternating.py), which checks shapes before calling in here.
#include <torch/extension.h>

#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>

#include "alternating.h"

namespace alt = flashrnn::alternating;

namespace {

int dtype_code(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return alt::kFloat32;
    case at::kHalf: return alt::kFloat16;
    case at::kBFloat16: return alt::kBFloat16;
    default: TORCH_CHECK(false, "alternating backend: unsupported dtype ", t.scalar_type());
  }
  return -1;
}

// View of `t` at element offset `offset`, its dimensions `dims` taken in that order.
alt::View view(const at::Tensor& t, int64_t offset, std::initializer_list<int> dims) {
  alt::View v{};
  v.ptr = static_cast<char*>(t.data_ptr()) + offset * static_cast<int64_t>(t.element_size());
  int i = 0;
  for (int d : dims) v.st[i++] = t.stride(d);
  return v;
}

void check_cuda(const at::Tensor& t, const char* name, const at::Tensor& like) {
  TORCH_CHECK(t.is_cuda(), "alternating backend: ", name, " must be a CUDA tensor");
  TORCH_CHECK(t.device() == like.device(), "alternating backend: ", name, " is on another device");
}

// Common operands: Wx [B, T, G, N, D], rh_all [T, N, B, G*D], bias [Gb, N, D],
// s0 [S, B, 1, N, D], states [S, B, T, N, D].
void fill_common(int64_t t, const at::Tensor& Wx, const at::Tensor& rh_all, const at::Tensor& bias,
                 const at::Tensor& s0, const at::Tensor& states, int& B, int& N, int& D, alt::View& wx,
                 alt::View& rh, alt::View& b, alt::View& s_prev) {
  B = static_cast<int>(Wx.size(0));
  N = static_cast<int>(Wx.size(3));
  D = static_cast<int>(Wx.size(4));
  const int64_t T = Wx.size(1);
  TORCH_CHECK(t >= 0 && t < T, "alternating backend: step ", t, " out of range");
  TORCH_CHECK(rh_all.dim() == 4 && rh_all.size(3) == Wx.size(2) * D && rh_all.stride(3) == 1,
              "alternating backend: rh_all must be [T, N, B, G*D] with a unit last stride");
  wx = view(Wx, t * Wx.stride(1), {0, 2, 3, 4});
  rh = view(rh_all, t * rh_all.stride(0), {1, 2, 3, 3});
  rh.st[2] = D;  // gate g starts at column g*D of the [.., G*D] row
  b = view(bias, 0, {0, 1, 2, 2});
  b.st[3] = 0;
  if (t == 0) {
    s_prev = view(s0, 0, {0, 1, 3, 4});
  } else {
    s_prev = view(states, (t - 1) * states.stride(2), {0, 1, 3, 4});
  }
}

void forward_step(int64_t cell, int64_t t, const at::Tensor& Wx, const at::Tensor& rh_all,
                  const at::Tensor& bias, const at::Tensor& s0, const at::Tensor& states,
                  const at::Tensor& h_next) {
  for (auto* p : {&rh_all, &bias, &s0, &states, &h_next}) check_cuda(*p, "an operand", Wx);
  const c10::cuda::CUDAGuard guard(Wx.device());
  alt::ForwardStepArgs a{};
  fill_common(t, Wx, rh_all, bias, s0, states, a.B, a.N, a.D, a.wx, a.rh, a.bias, a.s_prev);
  a.s_out = view(states, t * states.stride(2), {0, 1, 3, 4});
  a.h_next = view(h_next, 0, {0, 1, 2, 2});
  a.h_next.st[3] = 0;
  const cudaError_t err =
      alt::forward_step(static_cast<int>(cell), dtype_code(Wx), a, c10::cuda::getCurrentCUDAStream().stream());
  TORCH_CHECK(err == cudaSuccess, "alternating forward_step: ", cudaGetErrorString(err));
}

void backward_step(int64_t cell, int64_t t, const at::Tensor& Wx, const at::Tensor& rh_all,
                   const at::Tensor& bias, const at::Tensor& s0, const at::Tensor& states,
                   const at::Tensor& grad_states, const at::Tensor& carry,
                   const std::optional<at::Tensor>& dh_rec, const at::Tensor& dWx, const at::Tensor& dG) {
  for (auto* p : {&rh_all, &bias, &s0, &states, &grad_states, &carry, &dWx, &dG}) check_cuda(*p, "an operand", Wx);
  TORCH_CHECK(carry.scalar_type() == at::kFloat, "alternating backend: carry must be float32");
  const c10::cuda::CUDAGuard guard(Wx.device());
  alt::BackwardStepArgs a{};
  fill_common(t, Wx, rh_all, bias, s0, states, a.B, a.N, a.D, a.wx, a.rh, a.bias, a.s_prev);
  a.grad_s = view(grad_states, t * grad_states.stride(2), {0, 1, 3, 4});
  a.carry = view(carry, 0, {0, 1, 2, 3});
  if (dh_rec.has_value() && dh_rec->defined()) {
    check_cuda(*dh_rec, "dh_rec", Wx);
    a.dh_rec = view(*dh_rec, 0, {0, 1, 2, 2});
    a.dh_rec.st[3] = 0;
  } else {
    a.dh_rec.ptr = nullptr;
  }
  a.dwx = view(dWx, t * dWx.stride(1), {0, 2, 3, 4});
  // dG [N, T, B, G*D]
  TORCH_CHECK(dG.dim() == 4 && dG.stride(3) == 1, "alternating backend: dG must be [N, T, B, G*D]");
  a.dg = view(dG, t * dG.stride(1), {0, 2, 3, 3});
  a.dg.st[2] = a.D;
  const cudaError_t err =
      alt::backward_step(static_cast<int>(cell), dtype_code(Wx), a, c10::cuda::getCurrentCUDAStream().stream());
  TORCH_CHECK(err == cudaSuccess, "alternating backward_step: ", cudaGetErrorString(err));
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "flashrnn_kernels alternating backend: pointwise step kernels";
  m.def("forward_step", &forward_step, "forward pointwise step (see alternating.h)");
  m.def("backward_step", &backward_step, "backward pointwise step (see alternating.h)");
}
