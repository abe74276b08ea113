// Tensors to and from files in the safetensors format (https://github.com/huggingface/safetensors),
// which Python's safetensors, PyTorch and JAX users read and write:
//   8 bytes   N, the header's length, an unsigned little-endian 64-bit integer
//   N bytes   a JSON object {name: {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
//             with an optional "__metadata__": {string: string}; padded with spaces
//   the rest  the tensors' bytes, little-endian, row-major, at their offsets from the buffer's start
//   dydx::save_safetensors({{"w", w}, {"b", b}}, "model.safetensors", {{"epoch", "3"}});
//   std::map<std::string, dydx::Tensor> tensors = dydx::load_safetensors("model.safetensors");
// dydx reads and writes the dtypes it has: F32, F64 and I64. A file is validated whole before
// anything is returned: any fault (truncation, bad JSON, an unknown dtype, offsets that disagree
// with a shape, overlap, leave holes or run past the end, a key given twice) raises dydx::Error
// naming the file and the fault.
#pragma once

#include <map>
#include <string>

#include "dydx/tensor.hpp"

namespace dydx {

namespace optim {
class Optimizer;
}
namespace nn {
class Module;
template <class Contained>
class ModuleHolder;
}  // namespace nn

/// A safetensors file's tensors by name, and its "__metadata__" strings.
struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

/// Writes the tensors (any layout; their values are saved, without autograd history) and the
/// metadata to path, replacing it. The file is written beside path and renamed over it, so a
/// failed save leaves an existing file as it was. Errors for an undefined tensor or the reserved
/// name "__metadata__".
void save_safetensors(const std::map<std::string, Tensor>& tensors, const std::string& path,
                      const std::map<std::string, std::string>& metadata = {});

/// The tensors of a safetensors file, each a new contiguous tensor that owns its memory.
std::map<std::string, Tensor> load_safetensors(const std::string& path);

/// The tensors and the metadata of a safetensors file.
SafetensorsFile read_safetensors(const std::string& path);

/// Writes an optimizer's state_dict() as a safetensors file: each state tensor as
/// "state.<parameter index>.<name>" (e.g. "state.0.exp_avg"), and in the metadata the optimizer's
/// name ("optimizer"), its number of parameters ("param_count") and each option as
/// "option.<name>" (doubles written with 17 significant digits, so they read back exactly).
void save(const optim::Optimizer& optimizer, const std::string& path);

/// Writes a module's parameters and buffers (recursively) to a safetensors file under their dotted
/// names ("fc1.weight", "bn.running_mean"), as PyTorch's state_dict() keys them, with metadata
/// and "format": "pt" (which Hugging Face's loaders look for).
void save(const nn::Module& module, const std::string& path, const std::map<std::string, std::string>& metadata = {});
/// Loads a file written by save(module, path) (or by Python's safetensors from a PyTorch
/// state_dict) into the module, in place. Every key, shape and dtype is checked first: missing
/// keys, unexpected keys and wrong shapes or dtypes raise one dydx::Error listing them all, and
/// the module is left unchanged.
void load(nn::Module& module, const std::string& path);
/// The same for a module held by a holder (`Net net; dydx::save(net, path);`).
template <class Contained>
void save(const nn::ModuleHolder<Contained>& module, const std::string& path,
          const std::map<std::string, std::string>& metadata = {}) {
  save(static_cast<const nn::Module&>(*module), path, metadata);
}
template <class Contained>
void load(nn::ModuleHolder<Contained>& module, const std::string& path) {
  load(static_cast<nn::Module&>(*module), path);
}

/// Loads a file written by save(optimizer, path) into optimizer (load_state_dict): errors,
/// changing nothing, for a file that is not an optimizer checkpoint, or is another optimizer's,
/// or for another number of parameters, shapes or dtypes.
void load(optim::Optimizer& optimizer, const std::string& path);

}  // namespace dydx
