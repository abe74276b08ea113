// Reverse-mode autograd from Python: requires_grad, .grad, .grad_fn, .backward(), retain_grad, hooks
// taking Python callables, dydx.autograd.grad / backward and the grad mode. The engine runs without
// the GIL; a Python hook takes it back while it runs.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>

#include <sstream>

#include "bindings.hpp"
#include "py_ref.hpp"

namespace dydx::python {
namespace {

using namespace nb::literals;

/// A registered hook, removable as PyTorch's RemovableHandle. It does not keep the tensor alive.
struct HookHandle {
  std::weak_ptr<detail::TensorImpl> tensor;
  unsigned id;
  void remove() {
    if (auto impl = tensor.lock()) Tensor(impl).remove_hook(id);
    tensor.reset();
  }
};

/// A Python callable as a tensor hook: called with the gradient under the GIL; a Tensor it returns
/// replaces the gradient, None keeps it. A named type, so that the garbage collector's traversal
/// can find the callable inside the std::function (tensor_traverse).
struct PythonHook {
  std::shared_ptr<PyRef> fn;
  Tensor operator()(const Tensor& grad) const {
    nb::gil_scoped_acquire gil;
    nb::object result = fn->get()(grad);
    if (result.is_none()) return Tensor();
    if (!nb::isinstance<Tensor>(result))
      throw nb::type_error(("a hook must return None or a Tensor, not " + std::string(nb::type_name(result.type()).c_str())).c_str());
    return nb::cast<Tensor>(result);
  }
};

/// The Python hooks of a leaf that only this Python object reaches: the tensor's data is held by no
/// one else (no view, graph or other handle), and neither is the hook. Only those may be reported
/// to the cycle collector as this object's references, and only those may it clear.
template <class Visit>
void each_owned_python_hook(PyObject* self, Visit visit) {
  if (!nb::inst_ready(self)) return;
  const Tensor* t = nb::inst_ptr<Tensor>(self);
  if (!t->defined() || t->impl().use_count() != 1 || t->impl()->grad_fn) return;
  for (const auto& [id, hook] : t->impl()->hooks) {
    if (hook.use_count() != 1) continue;
    const auto* python = hook->template target<PythonHook>();
    if (python && python->fn.use_count() == 1) visit(id, python->fn->get());
  }
}

std::optional<bool> optional_bool(nb::handle h) {
  if (h.is_none()) return std::nullopt;
  return nb::cast<bool>(h);
}

TensorList optional_tensor_list(nb::handle h) { return h.is_none() ? TensorList{} : tensor_list(h); }

// grad_outputs and grad_tensors: None, one tensor, or a sequence whose None entries stand for an
// output's implicit gradient (ones, for a scalar output; an error otherwise), as torch's.
TensorList seeds_of(nb::handle h) {
  if (h.is_none() || nb::isinstance<Tensor>(h) || !PySequence_Check(h.ptr())) return optional_tensor_list(h);
  TensorList out;
  for (nb::handle item : nb::iter(h)) {
    if (item.is_none()) {
      out.emplace_back();
      continue;
    }
    if (!nb::isinstance<Tensor>(item))
      throw nb::type_error(("grad_outputs: expected a Tensor or None, but got " + std::string(Py_TYPE(item.ptr())->tp_name)).c_str());
    out.push_back(nb::cast<Tensor>(item));
  }
  return out;
}

std::string node_repr(const autograd::Node& node) {
  std::ostringstream os;
  os << "<" << node.name() << " object at " << static_cast<const void*>(&node) << ">";
  return os.str();
}

}  // namespace

int tensor_traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  int status = 0;
  each_owned_python_hook(self, [&](unsigned, const nb::object& fn) {
    if (status == 0) status = visit(fn.ptr(), arg);
  });
  return status;
}

int tensor_clear(PyObject* self) {
  std::vector<unsigned> ids;
  each_owned_python_hook(self, [&](unsigned id, const nb::object&) { ids.push_back(id); });
  for (unsigned id : ids) nb::inst_ptr<Tensor>(self)->remove_hook(id);
  return 0;
}

void bind_autograd(nb::module_& m) {
  nb::class_<autograd::Node>(m, "Node")
      .def("name", [](const autograd::Node& n) { return std::string(n.name()); })
      .def("__repr__", &node_repr);
  nb::class_<HookHandle>(m, "RemovableHandle").def("remove", &HookHandle::remove);

  nb::class_<Tensor> tensor = nb::borrow<nb::class_<Tensor>>(m.attr("Tensor"));
  tensor
      .def_prop_rw("requires_grad", &Tensor::requires_grad,
                   [](Tensor& t, bool r) { t.requires_grad_(r); })
      .def("requires_grad_", [](Tensor& t, bool r) -> Tensor& { return t.requires_grad_(r); }, "requires_grad"_a = true,
           nb::rv_policy::reference_internal)
      .def_prop_rw("grad", [](const Tensor& t) { return tensor_or_none(t.grad()); },
                   [](const Tensor& t, nb::handle g) {
                     if (!g.is_none() && !nb::isinstance<Tensor>(g))
                       throw nb::type_error(("assigned grad expected to be a Tensor or None but got grad of type" +
                                             std::string(nb::type_name(g.type()).c_str())).c_str());
                     t.set_grad(g.is_none() ? Tensor() : nb::cast<Tensor>(g));
                   },
                   nb::for_setter(nb::arg("value").none()))
      .def_prop_ro("grad_fn", [](const Tensor& t) -> nb::object {
        if (!t.grad_fn()) return nb::none();
        return nb::cast(t.grad_fn());
      })
      .def_prop_ro("is_leaf", &Tensor::is_leaf)
      .def_prop_ro("retains_grad", &Tensor::retains_grad)
      .def("retain_grad", &Tensor::retain_grad)
      .def("backward", [](const Tensor& t, nb::handle gradient, nb::handle retain_graph, bool create_graph, nb::handle inputs) {
        const Tensor g = gradient.is_none() ? Tensor() : nb::cast<Tensor>(gradient);
        const auto retain = optional_bool(retain_graph);
        const TensorList in = optional_tensor_list(inputs);
        without_gil([&] {
          t.backward(g, retain, create_graph, in);
          return 0;
        });
      }, "gradient"_a = nb::none(), "retain_graph"_a = nb::none(), "create_graph"_a = false, "inputs"_a = nb::none())
      .def("register_hook", [](const Tensor& t, nb::object hook) {
        if (!PyCallable_Check(hook.ptr())) throw nb::type_error("register_hook: the hook must be callable");
        return HookHandle{t.impl(), t.register_hook(TensorHook(PythonHook{hold(std::move(hook))}))};
      }, "hook"_a);

  nb::module_ autograd = m.def_submodule("autograd", "Reverse-mode automatic differentiation, as torch.autograd");
  autograd.def("grad", [](nb::handle outputs, nb::handle inputs, nb::handle grad_outputs, nb::handle retain_graph,
                          bool create_graph, bool allow_unused, bool is_grads_batched) {
    GradOptions options;
    options.retain_graph = optional_bool(retain_graph);
    options.create_graph = create_graph;
    options.allow_unused = allow_unused;
    options.is_grads_batched = is_grads_batched;
    const TensorList out = tensor_list(outputs), in = tensor_list(inputs), seeds = seeds_of(grad_outputs);
    return tensor_tuple(without_gil([&] { return dydx::grad(out, in, seeds, options); }));
  }, "outputs"_a, "inputs"_a, "grad_outputs"_a = nb::none(), "retain_graph"_a = nb::none(), "create_graph"_a = false,
     "allow_unused"_a = false, "is_grads_batched"_a = false);
  autograd.def("backward", [](nb::handle tensors, nb::handle grad_tensors, nb::handle retain_graph, bool create_graph,
                              nb::handle inputs) {
    BackwardOptions options;
    options.retain_graph = optional_bool(retain_graph);
    options.create_graph = create_graph;
    options.inputs = optional_tensor_list(inputs);
    const TensorList out = tensor_list(tensors), seeds = seeds_of(grad_tensors);
    without_gil([&] {
      dydx::backward(out, seeds, options);
      return 0;
    });
  }, "tensors"_a, "grad_tensors"_a = nb::none(), "retain_graph"_a = nb::none(), "create_graph"_a = false,
     "inputs"_a = nb::none());
  autograd.def("set_detect_anomaly", &set_detect_anomaly, "mode"_a);
  autograd.def("is_anomaly_enabled", &is_anomaly_enabled);

  m.def("is_grad_enabled", &is_grad_enabled);
  m.def("_set_grad_enabled", &set_grad_enabled, "mode"_a);
}

}  // namespace dydx::python
