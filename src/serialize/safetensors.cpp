// The safetensors format: writing, and reading with every rule of the format checked before a
// tensor is returned (https://github.com/huggingface/safetensors, its README's "Format" section):
// the header is a JSON object that begins with '{' and may be padded with spaces; each entry's
// data_offsets are relative to the byte buffer after the header, span exactly shape * itemsize
// bytes, and the entries together tile the buffer with neither holes nor overlap; no key twice.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "dydx/creation.hpp"
#include "dydx/error.hpp"
#include "dydx/serialize.hpp"

namespace dydx {
namespace {

static_assert(std::endian::native == std::endian::little, "safetensors stores little-endian bytes");

using json = nlohmann::json;

/// A header larger than this is refused before it is read (the reference reader's limit too),
/// so a corrupt length cannot make dydx allocate gigabytes.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

const char* safetensors_dtype(ScalarType t) {
  switch (t) {
    case kFloat32: return "F32";
    case kFloat64: return "F64";
    case kInt64: return "I64";
    case kBool: return "BOOL";
  }
  return "?";
}

/// The dydx dtype of a safetensors dtype name; errors for a name dydx has no dtype for, saying
/// whether the format knows it.
ScalarType dydx_dtype(const std::string& name, const std::string& path, const std::string& key) {
  if (name == "F32") return kFloat32;
  if (name == "F64") return kFloat64;
  if (name == "I64") return kInt64;
  if (name == "BOOL") return kBool;
  static const std::set<std::string> known = {"U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16",
                                              "F16",  "BF16", "I32", "U32", "U64"};
  DYDX_CHECK(!known.count(name), "load_safetensors: ", path, ": tensor \"", key, "\" has dtype ", name,
             ", which dydx does not support (only F32, F64, I64 and BOOL)");
  detail::fail("load_safetensors: ", path, ": tensor \"", key, "\" has unknown dtype \"", name, "\"");
}

/// One tensor's entry of a header, checked.
struct Entry {
  std::string name;
  ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

/// Parses the header text, refusing a key given twice in any object (a JSON parser would keep
/// the last one silently, so two readers could disagree about the file).
json parse_header(std::string_view text, const std::string& path) {
  std::vector<std::set<std::string>> keys_by_depth;
  std::string duplicate;
  auto callback = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      keys_by_depth.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      if (!keys_by_depth.empty()) keys_by_depth.pop_back();
    } else if (event == json::parse_event_t::key && !keys_by_depth.empty()) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!keys_by_depth.back().insert(key).second && duplicate.empty()) duplicate = key;
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    detail::fail("load_safetensors: ", path, ": the header is not valid JSON: ", e.what());
  }
  DYDX_CHECK(duplicate.empty(), "load_safetensors: ", path, ": the header has the key \"", duplicate, "\" twice");
  return header;
}

/// A non-negative integer of the header, or an error naming the field.
uint64_t header_uint(const json& value, const std::string& path, const std::string& key, const char* field) {
  DYDX_CHECK(value.is_number_unsigned(), "load_safetensors: ", path, ": tensor \"", key, "\" has ", field, " ",
             value.dump(), ", not a non-negative integer");
  return value.get<uint64_t>();
}

Entry parse_entry(const std::string& key, const json& info, const std::string& path) {
  DYDX_CHECK(info.is_object(), "load_safetensors: ", path, ": the entry of \"", key, "\" is not a JSON object");
  // Fields other than these three are ignored, as the reference reader ignores them.
  for (const char* field : {"dtype", "shape", "data_offsets"})
    DYDX_CHECK(info.contains(field), "load_safetensors: ", path, ": tensor \"", key, "\" has no \"", field, "\"");
  const json& dtype = info["dtype"];
  DYDX_CHECK(dtype.is_string(), "load_safetensors: ", path, ": tensor \"", key, "\" has dtype ", dtype.dump(),
             ", not a string");
  Entry e{key, dydx_dtype(dtype.get<std::string>(), path, key), {}, 0, 0};
  const json& shape = info["shape"];
  DYDX_CHECK(shape.is_array(), "load_safetensors: ", path, ": tensor \"", key, "\" has shape ", shape.dump(),
             ", not an array");
  uint64_t bytes = element_size(e.dtype);
  for (const json& size : shape) {
    const uint64_t s = header_uint(size, path, key, "a size");
    // Each size and the byte count stay within int64, so no product below can wrap.
    DYDX_CHECK(s <= static_cast<uint64_t>(INT64_MAX) && !__builtin_mul_overflow(bytes, s, &bytes) &&
                   bytes <= static_cast<uint64_t>(INT64_MAX),
               "load_safetensors: ", path, ": tensor \"", key, "\" has shape ", shape.dump(),
               ", too large to address");
    e.shape.push_back(static_cast<int64_t>(s));
  }
  const json& offsets = info["data_offsets"];
  DYDX_CHECK(offsets.is_array() && offsets.size() == 2, "load_safetensors: ", path, ": tensor \"", key,
             "\" has data_offsets ", offsets.dump(), ", not [begin, end]");
  e.begin = header_uint(offsets[0], path, key, "a data offset");
  e.end = header_uint(offsets[1], path, key, "a data offset");
  DYDX_CHECK(e.begin <= e.end && e.end - e.begin == bytes, "load_safetensors: ", path, ": tensor \"", key,
             "\" has data_offsets [", e.begin, ", ", e.end, "], but its dtype ", dtype.get<std::string>(),
             " and shape ", shape.dump(), " need ", bytes, " bytes");
  return e;
}

/// Checks that the entries tile the buffer [0, buffer_bytes): sorted by offset, each begins where
/// the one before ends, and the last ends at the buffer's end.
void check_tiling(std::vector<Entry>& entries, uint64_t buffer_bytes, const std::string& path) {
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return std::tie(a.begin, a.end) < std::tie(b.begin, b.end); });
  uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : entries) {
    DYDX_CHECK(e.begin >= covered, "load_safetensors: ", path, ": tensor \"", e.name, "\" at bytes [", e.begin,
               ", ", e.end, ") overlaps tensor \"", previous ? previous->name : "", "\" which ends at ", covered);
    DYDX_CHECK(e.begin == covered, "load_safetensors: ", path, ": the bytes [", covered, ", ", e.begin,
               ") of the buffer belong to no tensor (before \"", e.name, "\")");
    DYDX_CHECK(e.end <= buffer_bytes, "load_safetensors: ", path, ": tensor \"", e.name, "\" at bytes [", e.begin,
               ", ", e.end, ") runs past the end of the ", buffer_bytes, "-byte buffer");
    covered = e.end;
    previous = &e;
  }
  DYDX_CHECK(covered == buffer_bytes, "load_safetensors: ", path, ": the buffer has ", buffer_bytes,
             " bytes but its tensors cover ", covered);
}

void read_exactly(std::ifstream& in, char* out, uint64_t bytes, const std::string& path, const char* what) {
  in.read(out, static_cast<std::streamsize>(bytes));
  DYDX_CHECK(in && static_cast<uint64_t>(in.gcount()) == bytes, "load_safetensors: ", path,
             ": the file ended while reading ", what);
}

/// The bytes of a tensor's values, row-major.
const char* bytes_of(const Tensor& contiguous) {
  switch (contiguous.dtype()) {
    case kFloat32: return reinterpret_cast<const char*>(contiguous.data_ptr<float>());
    case kFloat64: return reinterpret_cast<const char*>(contiguous.data_ptr<double>());
    case kInt64: return reinterpret_cast<const char*>(contiguous.data_ptr<int64_t>());
    case kBool: return reinterpret_cast<const char*>(contiguous.data_ptr<bool>());
  }
  return nullptr;
}

char* mutable_bytes_of(const Tensor& contiguous) { return const_cast<char*>(bytes_of(contiguous)); }

/// A C++ bool holding a byte other than 0 or 1 is undefined behaviour, so a BOOL tensor's bytes are
/// checked as read.
void check_bool_bytes(const Tensor& t, const std::string& path, const std::string& key) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(bytes_of(t));
  for (int64_t i = 0; i < t.numel(); ++i)
    DYDX_CHECK(bytes[i] <= 1, "load_safetensors: ", path, ": tensor \"", key, "\" has dtype BOOL, but its element ", i,
               " is the byte ", static_cast<int>(bytes[i]), " (only 0 and 1 are bools)");
}

/// Whether text is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past
/// U+10FFFF), which JSON strings must be; nlohmann's dump() throws its own type_error otherwise.
bool is_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // the allowed range of the second byte
    if (lead < 0x80) length = 1;
    else if (lead >= 0xC2 && lead <= 0xDF) length = 2;
    else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;   // overlong
      if (lead == 0xED) high = 0x9F;  // surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;   // overlong
      if (lead == 0xF4) high = 0x8F;  // past U+10FFFF
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      const auto byte = static_cast<unsigned char>(text[i + k]);
      if (byte < (k == 1 ? low : 0x80) || byte > (k == 1 ? high : 0xBF)) return false;
    }
    i += length;
  }
  return true;
}

/// text with every byte outside printable ASCII as \xHH, for an error message about a name that is
/// not valid UTF-8.
std::string escaped(std::string_view text) {
  static const char digits[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7F && byte != '\\') {
      out += c;
    } else {
      out += "\\x";
      out += digits[byte >> 4];
      out += digits[byte & 15];
    }
  }
  return out;
}

void check_utf8(const std::string& text, const std::string& path, const char* what) {
  DYDX_CHECK(is_utf8(text), "save_safetensors: ", path, ": ", what, " \"", escaped(text),
             "\" is not valid UTF-8 (the header is JSON)");
}

}  // namespace

void save_safetensors(const std::map<std::string, Tensor>& tensors, const std::string& path,
                      const std::map<std::string, std::string>& metadata) {
  // Everything is checked before the file is opened, so that a bad name leaves no file behind.
  for (const auto& entry : metadata) {
    check_utf8(entry.first, path, "metadata key");
    check_utf8(entry.second, path, ("metadata value of \"" + escaped(entry.first) + "\"").c_str());
  }
  for (const auto& entry : tensors) check_utf8(entry.first, path, "tensor name");
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<Tensor> values;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    DYDX_CHECK(name != "__metadata__", "save_safetensors: ", path,
               ": \"__metadata__\" is reserved for the metadata and cannot name a tensor");
    DYDX_CHECK(tensor.defined(), "save_safetensors: ", path, ": tensor \"", name, "\" is undefined");
    Tensor value = tensor.detach().contiguous();
    const uint64_t bytes = static_cast<uint64_t>(value.numel()) * element_size(value.dtype());
    header[name] = {{"dtype", safetensors_dtype(value.dtype())},
                    {"shape", std::vector<int64_t>(value.sizes().begin(), value.sizes().end())},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    values.push_back(std::move(value));
  }
  std::string text = header.dump();
  // Padded with spaces to a multiple of 8, as Python's safetensors writes it, so that the buffer
  // starts 8-byte aligned in the file.
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t length = text.size();

  const std::string temporary = path + ".dydx-partial";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    DYDX_CHECK(out, "save_safetensors: cannot open ", temporary, " for writing");
    out.write(reinterpret_cast<const char*>(&length), sizeof(length));
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const Tensor& value : values)
      if (value.numel() > 0)
        out.write(bytes_of(value), static_cast<std::streamsize>(value.numel() * element_size(value.dtype())));
    out.flush();
    if (!out) {
      out.close();
      std::error_code ignored;
      std::filesystem::remove(temporary, ignored);
      detail::fail("save_safetensors: writing ", temporary, " failed");
    }
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    detail::fail("save_safetensors: cannot move ", temporary, " to ", path, ": ", error.message());
  }
}

SafetensorsFile read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  DYDX_CHECK(in, "load_safetensors: cannot open ", path);
  in.seekg(0, std::ios::end);
  const auto end = in.tellg();
  DYDX_CHECK(end >= 0, "load_safetensors: cannot find the size of ", path);
  const uint64_t file_bytes = static_cast<uint64_t>(end);
  in.seekg(0);
  DYDX_CHECK(file_bytes >= 8, "load_safetensors: ", path, ": the file has ", file_bytes,
             " bytes, fewer than the 8 of the header length (truncated?)");
  uint64_t header_bytes = 0;
  read_exactly(in, reinterpret_cast<char*>(&header_bytes), 8, path, "the header length");
  DYDX_CHECK(header_bytes <= file_bytes - 8, "load_safetensors: ", path, ": the header length ", header_bytes,
             " is larger than the ", file_bytes - 8, " bytes after it (truncated?)");
  DYDX_CHECK(header_bytes <= kMaxHeaderBytes, "load_safetensors: ", path, ": the header length ", header_bytes,
             " exceeds the limit of ", kMaxHeaderBytes, " bytes");
  std::string text(header_bytes, '\0');
  read_exactly(in, text.data(), header_bytes, path, "the header");
  DYDX_CHECK(!text.empty() && text[0] == '{', "load_safetensors: ", path,
             ": the header does not begin with '{' (not a safetensors file?)");

  const json header = parse_header(text, path);
  DYDX_CHECK(header.is_object(), "load_safetensors: ", path, ": the header is not a JSON object");
  SafetensorsFile file;
  std::vector<Entry> entries;
  for (const auto& [key, info] : header.items()) {
    if (key == "__metadata__") {
      DYDX_CHECK(info.is_object(), "load_safetensors: ", path, ": \"__metadata__\" is not a JSON object");
      for (const auto& [name, value] : info.items()) {
        DYDX_CHECK(value.is_string(), "load_safetensors: ", path, ": metadata \"", name, "\" is ", value.dump(),
                   ", not a string");
        file.metadata[name] = value.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(key, info, path));
  }
  const uint64_t buffer_start = 8 + header_bytes;
  check_tiling(entries, file_bytes - buffer_start, path);

  // Every check has passed: only now are tensors made and read.
  for (const Entry& e : entries) {
    Tensor t = empty(e.shape, dtype(e.dtype));
    if (e.end > e.begin) {
      in.seekg(static_cast<std::streamoff>(buffer_start + e.begin));
      read_exactly(in, mutable_bytes_of(t), e.end - e.begin, path, ("tensor \"" + e.name + "\"").c_str());
      if (e.dtype == kBool) check_bool_bytes(t, path, e.name);
    }
    file.tensors.emplace(e.name, std::move(t));
  }
  return file;
}

std::map<std::string, Tensor> load_safetensors(const std::string& path) { return read_safetensors(path).tensors; }

}  // namespace dydx
