// A training progress display: on a terminal one line redrawn in place (with \r) about ten times a second;
// to a pipe or a file, a plain line every `every` steps, so that logs stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace pinn {

class Progress {
 public:
  /// `total` steps of the phase named `phase`; out must stay open while this lives.
  Progress(std::string phase, int64_t total, FILE* out = stdout);
  /// Reports that `step` (1-based) of the phase is done with this loss.
  void update(int64_t step, double loss);
  /// Draws the final state and ends the line; called by the destructor if not before.
  void finish();
  ~Progress() { finish(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  /// Steps per second since the phase began.
  double rate() const;

 private:
  void draw();

  std::string phase_;
  int64_t total_, step_ = 0, every_, drawn_step_ = -1;
  double loss_ = 0;
  FILE* out_;
  bool tty_, done_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace pinn
