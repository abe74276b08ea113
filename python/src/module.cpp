// dydx._core: the extension module. dydx.Error becomes a Python exception (a RuntimeError
// subclass carrying dydx's message); the rest is registered by the files named below.
#include <nanobind/stl/string.h>

#include "bindings.hpp"

NB_MODULE(_core, m) {
  using namespace dydx::python;
  m.doc() = "dydx's C++ library, bound for Python; import dydx instead";
  nb::exception<dydx::Error> error(m, "Error", PyExc_RuntimeError);
  // Registered after Error, so tried before it: a singular matrix raises dydx.linalg.LinAlgError, and a dim
  // or index out of range dydx.IndexError, which is Python's IndexError too (as PyTorch raises there), and
  // an argument value PyTorch refuses with ValueError dydx.ValueError, Python's ValueError too.
  nb::exception<dydx::LinAlgError>(m, "LinAlgError", error.ptr());
  nb::exception<dydx::IndexError>(m, "IndexError", nb::make_tuple(error, nb::handle(PyExc_IndexError)).ptr());
  nb::exception<dydx::ValueError>(m, "ValueError", nb::make_tuple(error, nb::handle(PyExc_ValueError)).ptr());

  bind_dtypes(m);
  // A hook that refers to its tensor makes a cycle through C++; these slots let Python's cycle collector see it.
  static PyType_Slot gc_slots[] = {{Py_tp_traverse, reinterpret_cast<void*>(&tensor_traverse)},
                                   {Py_tp_clear, reinterpret_cast<void*>(&tensor_clear)},
                                   {0, nullptr}};
  nb::class_<dydx::Tensor> tensor(m, "Tensor", "A strided, typed array that records autograd history (torch.Tensor)",
                                  nb::type_slots(gc_slots));
  tensor.def("__repr__", [](const dydx::Tensor& t) { return dydx::to_string(t); });
  bind_tensor_methods(tensor);
  bind_tensor_operators(tensor);
  bind_indexing(tensor);
  bind_interop(tensor, m);
  bind_creation(m);
  bind_autograd(m);
  bind_func(m);
  bind_free_ops(m);
  bind_optim(m);
  bind_nn(tensor, m);

  m.def("blas_kernel", &dydx::blas_kernel, "The BLAS kernels dydx's matrix products run, and who chose them");
  m.def("get_num_threads", &dydx::get_num_threads);
  m.def("set_num_threads", &dydx::set_num_threads, nb::arg("n"));
}
