// Temporaries of kernels that run once per call on every thread (a convolution's columns), from a
// buffer each thread keeps: a fresh allocation of a megabyte or so per call comes from mmap, and its
// page faults cost as much as the im2col that fills it.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace dydx::cpu {

/// `count` uninitialised elements of T for the lifetime of this object. They come from this thread's
/// kept buffer when it is free and the request is at most kKeptBytes; otherwise (a nested user, or
/// a request too large to keep around between calls) from an allocation of their own.
template <class T>
class Scratch {
 public:
  static constexpr size_t kKeptBytes = size_t{16} << 20;
  explicit Scratch(size_t count) {
    const size_t words = (count * sizeof(T) + sizeof(Word) - 1) / sizeof(Word);
    Kept& kept = kept_buffer();
    if (!kept.in_use && words * sizeof(Word) <= kKeptBytes) {
      if (kept.words.size() < words) kept.words.resize(words);
      kept.in_use = true;
      holds_kept_ = true;
      data_ = reinterpret_cast<T*>(kept.words.data());
    } else {
      own_.reset(new Word[words]);
      data_ = reinterpret_cast<T*>(own_.get());
    }
  }
  ~Scratch() {
    if (holds_kept_) kept_buffer().in_use = false;
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* get() const { return data_; }

 private:
  using Word = std::max_align_t;  // storage aligned for any T
  struct Kept {
    std::vector<Word> words;
    bool in_use = false;
  };
  static Kept& kept_buffer() {
    thread_local Kept kept;
    return kept;
  }
  std::unique_ptr<Word[]> own_;
  T* data_ = nullptr;
  bool holds_kept_ = false;
};

}  // namespace dydx::cpu
