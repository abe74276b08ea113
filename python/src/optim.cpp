// dydx.optim: SGD, Adam and AdamW with torch.optim's Python arguments (one parameter group). A
// step's closure, a Python callable, runs under the GIL; the step itself runs without it.
#include <nanobind/stl/tuple.h>

#include <memory>
#include <string>

#include "bindings.hpp"
#include "py_ref.hpp"

namespace dydx::python {
namespace {

using namespace nb::literals;

optim::Optimizer::LossClosure closure_of(nb::object closure) {
  if (closure.is_none()) return nullptr;
  if (!PyCallable_Check(closure.ptr())) throw nb::type_error("step: the closure must be callable");
  auto fn = hold(std::move(closure));
  return [fn]() {
    nb::gil_scoped_acquire gil;
    nb::object loss = fn->get()();
    if (!nb::isinstance<Tensor>(loss)) throw nb::type_error("step: the closure must return the loss as a Tensor");
    return nb::cast<Tensor>(loss);
  };
}

nb::object step(optim::Optimizer& optimizer, nb::object closure) {
  const auto loss_closure = closure_of(std::move(closure));
  const Tensor loss = without_gil([&] { return optimizer.step(loss_closure); });
  return tensor_or_none(loss);
}

void zero_grad(optim::Optimizer& optimizer, bool set_to_none) {
  if (!set_to_none) return optimizer.zero_grad();
  for (const Tensor& p : optimizer.parameters()) p.set_grad(Tensor());
}

}  // namespace

void bind_optim(nb::module_& m) {
  nb::module_ o = m.def_submodule("optim", "Optimizers, as torch.optim (one parameter group)");
  nb::class_<optim::Optimizer>(o, "Optimizer")
      .def("step", &step, "closure"_a = nb::none())
      .def("zero_grad", &zero_grad, "set_to_none"_a = false)
      .def_prop_ro("params", [](const optim::Optimizer& opt) { return tensor_tuple(opt.parameters()); })
      .def_prop_rw("lr", [](const optim::Optimizer& opt) { return opt.defaults().get_lr(); },
                   [](optim::Optimizer& opt, double lr) { opt.defaults().set_lr(lr); });
  nb::class_<optim::SGD, optim::Optimizer>(o, "SGD")
      .def("__init__", [](optim::SGD* self, nb::handle params, double lr, double momentum, double dampening,
                          double weight_decay, bool nesterov) {
        new (self) optim::SGD(tensor_list(params), optim::SGDOptions(lr).momentum(momentum).dampening(dampening)
                                                       .weight_decay(weight_decay).nesterov(nesterov));
      }, "params"_a, "lr"_a, "momentum"_a = 0.0, "dampening"_a = 0.0, "weight_decay"_a = 0.0, "nesterov"_a = false);
  nb::class_<optim::Adam, optim::Optimizer>(o, "Adam")
      .def("__init__", [](optim::Adam* self, nb::handle params, double lr, std::tuple<double, double> betas, double eps,
                          double weight_decay, bool amsgrad) {
        new (self) optim::Adam(tensor_list(params), optim::AdamOptions(lr).betas(betas).eps(eps)
                                                        .weight_decay(weight_decay).amsgrad(amsgrad));
      }, "params"_a, "lr"_a = 1e-3, "betas"_a = std::make_tuple(0.9, 0.999), "eps"_a = 1e-8, "weight_decay"_a = 0.0,
         "amsgrad"_a = false);
  nb::class_<optim::AdamW, optim::Optimizer>(o, "AdamW")
      .def("__init__", [](optim::AdamW* self, nb::handle params, double lr, std::tuple<double, double> betas, double eps,
                          double weight_decay, bool amsgrad) {
        new (self) optim::AdamW(tensor_list(params), optim::AdamWOptions(lr).betas(betas).eps(eps)
                                                         .weight_decay(weight_decay).amsgrad(amsgrad));
      }, "params"_a, "lr"_a = 1e-3, "betas"_a = std::make_tuple(0.9, 0.999), "eps"_a = 1e-8, "weight_decay"_a = 1e-2,
         "amsgrad"_a = false);
}

}  // namespace dydx::python
