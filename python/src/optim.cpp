// dydx.optim: SGD, Adam, AdamW, RMSprop and LBFGS with torch.optim's Python arguments (one parameter
// group), and dydx.optim.lr_scheduler. A step's closure, a Python callable, runs under the GIL; the
// step itself runs without it.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

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

/// An optimizer's params, which torch.optim refuses empty (ValueError); the C++ optimizers, as libtorch's, take none.
TensorList parameters_of(nb::handle params) {
  TensorList list = tensor_list(params);
  if (list.empty()) throw nb::value_error("optimizer got an empty parameter list");
  return list;
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
        new (self) optim::SGD(parameters_of(params), optim::SGDOptions(lr).momentum(momentum).dampening(dampening)
                                                       .weight_decay(weight_decay).nesterov(nesterov));
      }, "params"_a, "lr"_a, "momentum"_a = 0.0, "dampening"_a = 0.0, "weight_decay"_a = 0.0, "nesterov"_a = false);
  nb::class_<optim::Adam, optim::Optimizer>(o, "Adam")
      .def("__init__", [](optim::Adam* self, nb::handle params, double lr, std::tuple<double, double> betas, double eps,
                          double weight_decay, bool amsgrad) {
        new (self) optim::Adam(parameters_of(params), optim::AdamOptions(lr).betas(betas).eps(eps)
                                                        .weight_decay(weight_decay).amsgrad(amsgrad));
      }, "params"_a, "lr"_a = 1e-3, "betas"_a = std::make_tuple(0.9, 0.999), "eps"_a = 1e-8, "weight_decay"_a = 0.0,
         "amsgrad"_a = false);
  nb::class_<optim::AdamW, optim::Optimizer>(o, "AdamW")
      .def("__init__", [](optim::AdamW* self, nb::handle params, double lr, std::tuple<double, double> betas, double eps,
                          double weight_decay, bool amsgrad) {
        new (self) optim::AdamW(parameters_of(params), optim::AdamWOptions(lr).betas(betas).eps(eps)
                                                         .weight_decay(weight_decay).amsgrad(amsgrad));
      }, "params"_a, "lr"_a = 1e-3, "betas"_a = std::make_tuple(0.9, 0.999), "eps"_a = 1e-8, "weight_decay"_a = 1e-2,
         "amsgrad"_a = false);
  nb::class_<optim::RMSprop, optim::Optimizer>(o, "RMSprop")
      .def("__init__", [](optim::RMSprop* self, nb::handle params, double lr, double alpha, double eps,
                          double weight_decay, double momentum, bool centered) {
        new (self) optim::RMSprop(parameters_of(params), optim::RMSpropOptions(lr).alpha(alpha).eps(eps)
                                                           .weight_decay(weight_decay).momentum(momentum)
                                                           .centered(centered));
      }, "params"_a, "lr"_a = 1e-2, "alpha"_a = 0.99, "eps"_a = 1e-8, "weight_decay"_a = 0.0, "momentum"_a = 0.0,
         "centered"_a = false);
  nb::class_<optim::LBFGS, optim::Optimizer>(o, "LBFGS")
      .def("__init__", [](optim::LBFGS* self, nb::handle params, double lr, int64_t max_iter,
                          std::optional<int64_t> max_eval, double tolerance_grad, double tolerance_change,
                          int64_t history_size, std::optional<std::string> line_search_fn) {
        new (self) optim::LBFGS(parameters_of(params), optim::LBFGSOptions(lr).max_iter(max_iter).max_eval(max_eval)
                                                         .tolerance_grad(tolerance_grad)
                                                         .tolerance_change(tolerance_change)
                                                         .history_size(history_size).line_search_fn(line_search_fn));
      }, "params"_a, "lr"_a = 1.0, "max_iter"_a = 20, "max_eval"_a = nb::none(), "tolerance_grad"_a = 1e-7,
         "tolerance_change"_a = 1e-9, "history_size"_a = 100, "line_search_fn"_a = nb::none());

  // The schedulers hold their optimizer by reference: keep_alive<1, 2> keeps it alive as long as they are.
  nb::module_ s = o.def_submodule("lr_scheduler", "Learning-rate schedulers, as torch.optim.lr_scheduler");
  nb::class_<optim::LRScheduler>(s, "LRScheduler")
      .def("step", [](optim::LRScheduler& self) { self.step(); })
      .def("get_last_lr", &optim::LRScheduler::get_last_lr)
      .def_prop_ro("last_epoch", &optim::LRScheduler::last_epoch)
      .def_prop_ro("base_lrs", &optim::LRScheduler::base_lrs);
  nb::class_<optim::StepLR, optim::LRScheduler>(s, "StepLR")
      .def(nb::init<optim::Optimizer&, int64_t, double>(), "optimizer"_a, "step_size"_a, "gamma"_a = 0.1,
           nb::keep_alive<1, 2>());
  nb::class_<optim::ExponentialLR, optim::LRScheduler>(s, "ExponentialLR")
      .def(nb::init<optim::Optimizer&, double>(), "optimizer"_a, "gamma"_a, nb::keep_alive<1, 2>());
  nb::class_<optim::CosineAnnealingLR, optim::LRScheduler>(s, "CosineAnnealingLR")
      .def(nb::init<optim::Optimizer&, int64_t, double>(), "optimizer"_a, "T_max"_a, "eta_min"_a = 0.0,
           nb::keep_alive<1, 2>());
  nb::class_<optim::ReduceLROnPlateau>(s, "ReduceLROnPlateau")
      .def("__init__", [](optim::ReduceLROnPlateau* self, optim::Optimizer& optimizer, const std::string& mode,
                          double factor, int64_t patience, double threshold, const std::string& threshold_mode,
                          int64_t cooldown, double min_lr, double eps) {
        if (mode != "min" && mode != "max") throw nb::value_error(("mode " + mode + " is unknown!").c_str());
        if (threshold_mode != "rel" && threshold_mode != "abs")
          throw nb::value_error(("threshold mode " + threshold_mode + " is unknown!").c_str());
        new (self) optim::ReduceLROnPlateau(
            optimizer, optim::ReduceLROnPlateauOptions()
                           .mode(mode == "min" ? optim::SchedulerMode::min : optim::SchedulerMode::max)
                           .factor(factor).patience(patience).threshold(threshold)
                           .threshold_mode(threshold_mode == "rel" ? optim::ThresholdMode::rel : optim::ThresholdMode::abs)
                           .cooldown(cooldown).min_lr(min_lr).eps(eps));
      }, "optimizer"_a, "mode"_a = "min", "factor"_a = 0.1, "patience"_a = 10, "threshold"_a = 1e-4,
         "threshold_mode"_a = "rel", "cooldown"_a = 0, "min_lr"_a = 0.0, "eps"_a = 1e-8, nb::keep_alive<1, 2>())
      .def("step", [](optim::ReduceLROnPlateau& self, nb::handle metrics) {
        // A 0-d tensor or a number, as torch takes either.
        self.step(nb::isinstance<Tensor>(metrics) ? nb::cast<Tensor>(metrics).item<double>() : nb::cast<double>(metrics));
      }, "metrics"_a)
      .def("get_last_lr", &optim::ReduceLROnPlateau::get_last_lr)
      .def_prop_ro("last_epoch", &optim::ReduceLROnPlateau::last_epoch)
      .def_prop_ro("num_bad_epochs", &optim::ReduceLROnPlateau::num_bad_epochs)
      .def_prop_ro("best", &optim::ReduceLROnPlateau::best);
}

}  // namespace dydx::python
