// dydx.func: the function transforms (torch.func's names and arguments) taking Python callables.
// A transform runs without the GIL and takes it back each time it calls the callable, so a
// callable that raises propagates its own exception, traceback included, through the transform
// (whose guards restore grad mode and close its levels on the way out).
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <memory>
#include <string>

#include "bindings.hpp"
#include "dydx/compile.hpp"
#include "py_ref.hpp"

namespace dydx::python {
namespace {

using namespace nb::literals;

/// A Python callable as func::Function: called with the tensors as positional arguments; it may
/// return one Tensor or a tuple (or list) of them, and `returns_tuple` remembers which, so that the
/// transform's results are given back in the same form.
struct PythonFunction {
  std::shared_ptr<PyRef> callable;
  std::shared_ptr<bool> returns_tuple = std::make_shared<bool>(false);
  // The named tuple's type where f returned one (dydx.return_types.sort, say), so that vmap, compile,
  // vjp, jvp and linearize give their results back as the same kind, as torch.func does.
  std::shared_ptr<std::shared_ptr<PyRef>> named_tuple = std::make_shared<std::shared_ptr<PyRef>>();

  TensorList operator()(const TensorList& inputs) const {
    nb::gil_scoped_acquire gil;
    nb::list args;
    for (const Tensor& t : inputs) args.append(nb::cast(t));
    nb::object result = callable->get()(*nb::tuple(args));
    if (nb::isinstance<Tensor>(result)) {
      *returns_tuple = false;
      *named_tuple = nullptr;
      return {nb::cast<Tensor>(result)};
    }
    if (PyTuple_Check(result.ptr()) || PyList_Check(result.ptr())) {
      *returns_tuple = true;
      const bool named = PyTuple_Check(result.ptr()) && nb::hasattr(result.type(), "_fields");
      *named_tuple = named ? hold(nb::borrow(result.type())) : nullptr;
      return tensor_list(result);
    }
    throw nb::type_error(("dydx.func: the function must return a Tensor or a tuple of Tensors, not " +
                          std::string(nb::type_name(result.type()).c_str()))
                             .c_str());
  }
};

PythonFunction wrap(nb::object f) {
  if (!PyCallable_Check(f.ptr()))
    throw nb::type_error(("dydx.func: expected a callable, not " + std::string(nb::type_name(f.type()).c_str())).c_str());
  return PythonFunction{hold(std::move(f))};
}

/// One tensor or a tuple, as the callable returned.
nb::object shaped(const TensorList& values, bool as_tuple) {
  if (!as_tuple && values.size() == 1) return tensor_or_none(values[0]);
  return tensor_tuple(values);
}

/// One tensor or a tuple, as fn returned (a named tuple again as its own type).
nb::object shaped(const TensorList& values, const PythonFunction& fn) {
  nb::object out = shaped(values, *fn.returns_tuple);
  if (*fn.returns_tuple && *fn.named_tuple) return (*fn.named_tuple)->get()(*out);
  return out;
}

TensorList arguments(const nb::args& args) {
  TensorList out;
  for (nb::handle a : args) {
    if (!nb::isinstance<Tensor>(a))
      throw nb::type_error(("dydx.func: arguments must be Tensors, not " + std::string(nb::type_name(a.type()).c_str())).c_str());
    out.push_back(nb::cast<Tensor>(a));
  }
  return out;
}

/// argnums as an int or a tuple of ints: the list, and whether results come as a tuple.
std::pair<std::vector<int64_t>, bool> argnums_of(nb::handle argnums) {
  if (PyTuple_Check(argnums.ptr()) || PyList_Check(argnums.ptr())) return {int_list(argnums), true};
  return {{int_arg(argnums, "dydx.func", "argnums", 2)}, false};
}

/// jacrev / jacfwd / hessian results, listed output-major, grouped as torch.func groups them: one
/// entry per output (a tuple when f returns one), each a tensor or a tuple over argnums.
nb::object grouped(const TensorList& flat, size_t outputs, bool outputs_tuple, size_t per_output, bool argnums_tuple) {
  nb::list by_output;
  for (size_t o = 0; o < outputs; ++o) {
    TensorList part(flat.begin() + o * per_output, flat.begin() + (o + 1) * per_output);
    by_output.append(argnums_tuple ? nb::object(tensor_tuple(part)) : tensor_or_none(part[0]));
  }
  if (!outputs_tuple && outputs == 1) return by_output[0];
  return nb::tuple(by_output);
}

func::BatchDims batch_dims(nb::handle dims) {
  func::BatchDims out;
  auto one = [](nb::handle d) -> std::optional<int64_t> {
    if (d.is_none()) return std::nullopt;
    return int_arg(d, "dydx.func.vmap", "in_dims or out_dims", 0);
  };
  if (PyTuple_Check(dims.ptr()) || PyList_Check(dims.ptr())) {
    for (nb::handle d : nb::iter(dims)) out.push_back(one(d));
  } else {
    out.push_back(one(dims));
  }
  return out;
}

func::BatchOptions batch_options(int64_t chunk_size, bool check_independence) {
  func::BatchOptions options;
  options.chunk_size = chunk_size;
  options.check_independence = check_independence;
  return options;
}

/// A C++ function of tensors as a Python callable taking them positionally.
nb::object callable(std::function<TensorList(const TensorList&)> fn, std::function<nb::object(const TensorList&)> shape) {
  return nb::cpp_function([fn = std::move(fn), shape = std::move(shape)](nb::args args) {
    const TensorList in = arguments(args);
    const TensorList out = without_gil([&] { return fn(in); });
    return shape(out);
  });
}

/// The forms a compiled function's results have come in (a tensor; a tuple; a tuple of a named
/// type), each once, so that a small number names one. A named type is known by its module, name and
/// fields: a function that makes its named tuple type anew at each call adds one form, which keeps
/// the first of those types (a replay builds its results with it). One table per compiled function,
/// freed with it; read and extended with the GIL held.
struct OutputForm {
  bool tuple;
  std::string named_key;  // empty for none
  std::shared_ptr<PyRef> named_tuple;
};
using OutputForms = std::vector<OutputForm>;

int64_t form_number(OutputForms& forms, const PythonFunction& fn) {
  nb::gil_scoped_acquire gil;
  std::string key;
  if (*fn.named_tuple) {
    const nb::object& type = (*fn.named_tuple)->get();
    key = nb::cast<std::string>(nb::repr(nb::make_tuple(nb::getattr(type, "__module__", nb::none()),
                                                        nb::getattr(type, "__qualname__", nb::none()),
                                                        nb::getattr(type, "_fields", nb::none()))));
  }
  for (size_t i = 0; i < forms.size(); ++i)
    if (forms[i].tuple == *fn.returns_tuple && forms[i].named_key == key) return static_cast<int64_t>(i);
  forms.push_back({*fn.returns_tuple, key, *fn.named_tuple});
  return static_cast<int64_t>(forms.size() - 1);
}

/// dydx.func.compile's engine. The C++ compiled function calls, when it records, the Python function
/// given with that call, which the Python object holds (where the cycle collector sees it): this
/// object holds no reference to it.
struct CompiledFunction {
  func::Compiled compiled;
  std::shared_ptr<OutputForms> forms;
};
thread_local const PythonFunction* function_being_called = nullptr;

/// The compiled function returns f's results and then the number of their form, as a constant 0-d
/// tensor made after f ran: a recording replays it with the results, so each replay says the form of
/// its own recording (f may give a tensor for one shape and a tuple for another), whatever other
/// signatures or threads recorded since.
CompiledFunction make_compiled(int64_t max_signatures) {
  auto forms = std::make_shared<OutputForms>();
  func::Compiled compiled = func::compile(func::Function([forms](const TensorList& in) {
    if (function_being_called == nullptr) throw nb::type_error("dydx.func.compile: called without its function");
    TensorList out = (*function_being_called)(in);
    out.push_back(full({}, static_cast<double>(form_number(*forms, *function_being_called)), dtype(kInt64)));
    return out;
  }), max_signatures);
  return {std::move(compiled), std::move(forms)};
}

}  // namespace

void bind_func(nb::module_& m) {
  nb::module_ func = m.def_submodule("func", "Function transforms, as torch.func");

  func.def("vjp", [](nb::object f, nb::args primals) {
    const PythonFunction fn = wrap(std::move(f));
    const TensorList in = arguments(primals);
    auto [out, vjp_fn] = without_gil([&] { return func::vjp(fn, in); });
    nb::object vjp_callable = callable(vjp_fn, [](const TensorList& g) { return nb::object(tensor_tuple(g)); });
    return nb::make_tuple(shaped(out, fn), vjp_callable);
  }, "func"_a, "primals"_a);

  func.def("jvp", [](nb::object f, nb::handle primals, nb::handle tangents) {
    const PythonFunction fn = wrap(std::move(f));
    const TensorList p = tensor_list(primals), t = tensor_list(tangents);
    auto [out, tangent_out] = without_gil([&] { return func::jvp(fn, p, t); });
    return nb::make_tuple(shaped(out, fn), shaped(tangent_out, fn));
  }, "func"_a, "primals"_a, "tangents"_a);

  func.def("linearize", [](nb::object f, nb::args primals) {
    const PythonFunction fn = wrap(std::move(f));
    const TensorList in = arguments(primals);
    auto [out, jvp_fn] = without_gil([&] { return func::linearize(fn, in); });
    nb::object jvp_callable = callable(jvp_fn, [fn](const TensorList& t) { return shaped(t, fn); });
    return nb::make_tuple(shaped(out, fn), jvp_callable);
  }, "func"_a, "primals"_a);

  func.def("grad", [](nb::object f, nb::handle argnums) {
    const PythonFunction fn = wrap(std::move(f));
    auto [nums, as_tuple] = argnums_of(argnums);
    return callable(func::grad(fn, nums), [as_tuple = as_tuple](const TensorList& g) { return shaped(g, as_tuple); });
  }, "func"_a, "argnums"_a = 0);

  auto jacobian_transform = [](bool reverse) {
    return [reverse](nb::object f, nb::handle argnums, std::optional<int64_t> chunk_size) {
      const PythonFunction fn = wrap(std::move(f));
      auto [nums, argnums_tuple] = argnums_of(argnums);
      const func::Function jac = reverse ? func::jacrev(fn, nums, chunk_size.value_or(0))
                                         : func::jacfwd(fn, nums, chunk_size.value_or(0));
      const size_t per_output = nums.size();
      return callable(jac, [fn, per_output, argnums_tuple = argnums_tuple](const TensorList& flat) {
        return grouped(flat, flat.size() / per_output, *fn.returns_tuple, per_output, argnums_tuple);
      });
    };
  };
  func.def("jacrev", jacobian_transform(true), "func"_a, "argnums"_a = 0, "chunk_size"_a = nb::none());
  func.def("jacfwd", jacobian_transform(false), "func"_a, "argnums"_a = 0, "chunk_size"_a = nb::none());

  func.def("hessian", [](nb::object f, nb::handle argnums) {
    const PythonFunction fn = wrap(std::move(f));
    auto [nums, as_tuple] = argnums_of(argnums);
    const size_t n = nums.size();
    // func::hessian lists d2f/di dj for each output, each i, each j: grouped as torch.func groups them,
    // one entry per output (a tuple when f returns one), each a tensor or rows over argnums.
    return callable(func::hessian(fn, nums), [fn, n, as_tuple = as_tuple](const TensorList& flat) {
      const size_t outputs = flat.size() / (n * n);
      nb::list by_output;
      for (size_t o = 0; o < outputs; ++o) {
        if (!as_tuple) {
          by_output.append(tensor_or_none(flat[o]));
          continue;
        }
        nb::list rows;
        for (size_t i = 0; i < n; ++i)
          rows.append(tensor_tuple(TensorList(flat.begin() + (o * n + i) * n, flat.begin() + (o * n + i + 1) * n)));
        by_output.append(nb::tuple(rows));
      }
      if (!*fn.returns_tuple && outputs == 1) return nb::object(by_output[0]);
      return nb::object(nb::tuple(by_output));
    });
  }, "func"_a, "argnums"_a = 0);

  func.def("vmap", [](nb::object f, nb::handle in_dims, nb::handle out_dims, const std::string& randomness,
                      std::optional<int64_t> chunk_size) {
    const PythonFunction fn = wrap(std::move(f));
    func::VmapOptions options;
    if (randomness == "error") options.randomness = func::Randomness::error;
    else if (randomness == "different") options.randomness = func::Randomness::different;
    else if (randomness == "same") options.randomness = func::Randomness::same;
    else throw nb::value_error(("vmap: randomness must be 'error', 'different' or 'same', not '" + randomness + "'").c_str());
    options.chunk_size = chunk_size.value_or(0);
    const func::Function mapped = func::vmap(fn, batch_dims(in_dims), batch_dims(out_dims), options);
    return callable(mapped, [fn](const TensorList& out) { return shaped(out, fn); });
  }, "func"_a, "in_dims"_a = 0, "out_dims"_a = 0, "randomness"_a = "error", "chunk_size"_a = nb::none());

  // Per-sample derivatives of a function written for the whole batch: these take x and return the result.
  auto unary = [](nb::object f) {
    const PythonFunction fn = wrap(std::move(f));
    return func::UnaryFunction([fn](const Tensor& x) {
      TensorList out = fn({x});
      if (out.size() != 1) throw nb::type_error("dydx.func: the function must return one Tensor");
      return out[0];
    });
  };
#define DYDX_BATCH(name)                                                                                     \
  func.def(#name, [unary](nb::object f, const Tensor& x, int64_t chunk_size, bool check_independence) {      \
    const func::UnaryFunction fn = unary(std::move(f));                                                      \
    return without_gil([&] { return func::name(fn, x, batch_options(chunk_size, check_independence)); });    \
  }, "func"_a, "x"_a, "chunk_size"_a = 0, "check_independence"_a = false)
  DYDX_BATCH(batch_jacobian);
  DYDX_BATCH(batch_hessian);
  DYDX_BATCH(batch_hessian_diagonal);
  DYDX_BATCH(hessian_diagonal);
  DYDX_BATCH(laplacian);
#undef DYDX_BATCH
  nb::class_<CompiledFunction>(func, "Compiled", "func::compile's recordings of one function (dydx.func.compile holds it)")
      .def("__init__", [](CompiledFunction* self, int64_t max_signatures) {
        new (self) CompiledFunction{make_compiled(max_signatures)};
      }, "max_signatures"_a = 64)
      .def("__call__", [](const CompiledFunction& self, nb::object f, nb::args args) {
        PythonFunction fn = wrap(std::move(f));
        const TensorList in = arguments(args);
        const PythonFunction* outer = function_being_called;
        function_being_called = &fn;
        struct Restore {
          const PythonFunction* outer;
          ~Restore() { function_being_called = outer; }
        } restore{outer};
        TensorList out = without_gil([&] { return self.compiled(in); });
        // Read from its memory, not by item(): a compiled function called while another records
        // would make that recording's f run itself at every call (item() reads data f branches on).
        const OutputForm& form = self.forms->at(static_cast<size_t>(*out.back().data_ptr<int64_t>()));
        out.pop_back();
        *fn.returns_tuple = form.tuple;
        *fn.named_tuple = form.named_tuple;
        return shaped(out, fn);
      }, "func"_a, "args"_a)
      .def("stats", [](const CompiledFunction& self) {
        const func::CompileStats s = self.compiled.stats();
        nb::dict d;
        d["recordings"] = s.recordings;
        d["replays"] = s.replays;
        d["eager_calls"] = s.eager_calls;
        d["eager_reason"] = s.eager_reason;
        d["planned_ops"] = s.planned_ops;
        d["fused_passes"] = s.fused_passes;
        d["fused_ops"] = s.fused_ops;
        d["fused_products"] = s.fused_products;
        d["uniform_ops"] = s.uniform_ops;
        return d;
      })
      .def("reset", [](const CompiledFunction& self) { self.compiled.reset(); });

  func.def("jacobian", [unary](nb::object f, const Tensor& x) {
    const func::UnaryFunction fn = unary(std::move(f));
    return without_gil([&] { return func::jacobian(fn, x); });
  }, "func"_a, "x"_a);
}

}  // namespace dydx::python
