#include "progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <utility>

namespace pinn {

Progress::Progress(std::string phase, int64_t total, FILE* out)
    : phase_(std::move(phase)),
      total_(std::max<int64_t>(total, 1)),
      every_(std::max<int64_t>(total_ / 10, 1)),
      out_(out),
      tty_(isatty(fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

double Progress::rate() const {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return seconds > 0 ? static_cast<double>(step_) / seconds : 0.0;
}

void Progress::update(int64_t step, double loss) {
  step_ = step;
  loss_ = loss;
  if (tty_) {
    // Redrawing on every step would cost more than a small step itself; ten times a second reads as smooth.
    const auto now = std::chrono::steady_clock::now();
    if (now - last_draw_ < std::chrono::milliseconds(100) && step < total_) return;
    last_draw_ = now;
    draw();
  } else if (step % every_ == 0 || step == total_) {
    draw();
  }
}

void Progress::draw() {
  drawn_step_ = step_;
  if (tty_) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * std::min(step_, total_) / total_);
    std::string bar(filled, '#');
    bar.resize(kWidth, '.');
    std::fprintf(out_, "\r%-6s [%s] %6lld/%-6lld loss %.3e  %7.1f steps/s ", phase_.c_str(), bar.c_str(),
                 static_cast<long long>(step_), static_cast<long long>(total_), loss_, rate());
  } else {
    std::fprintf(out_, "%-6s step %6lld/%-6lld loss %.3e  %7.1f steps/s\n", phase_.c_str(), static_cast<long long>(step_),
                 static_cast<long long>(total_), loss_, rate());
  }
  std::fflush(out_);
}

void Progress::finish() {
  if (done_) return;
  done_ = true;
  if (drawn_step_ != step_) draw();  // the last step, unless the display shows it already
  if (tty_) {
    std::fputc('\n', out_);
    std::fflush(out_);
  }
}

}  // namespace pinn
