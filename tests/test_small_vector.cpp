// SmallVector against std::vector: random sequences of every operation, on elements that count
// their owners, so that a lost, doubled or leaked element shows as a wrong use count.
#include <gtest/gtest.h>

#include <dydx/small_vector.hpp>

#include <memory>
#include <random>
#include <vector>

using dydx::SmallVector;

namespace {

using Element = std::shared_ptr<int>;
using Small = SmallVector<Element, 3>;  // small, so that sequences cross the inline limit often

void ExpectSame(const Small& small, const std::vector<Element>& reference) {
  ASSERT_EQ(small.size(), reference.size());
  ASSERT_EQ(small.empty(), reference.empty());
  for (size_t i = 0; i < reference.size(); ++i) ASSERT_EQ(small[i], reference[i]) << "at " << i;
  ASSERT_EQ(static_cast<size_t>(small.end() - small.begin()), reference.size());
}

}  // namespace

TEST(SmallVector, RandomOperationsMatchStdVector) {
  std::mt19937 rng(7);
  std::vector<Element> pool;
  for (int i = 0; i < 8; ++i) pool.push_back(std::make_shared<int>(i));
  auto pick = [&] { return pool[rng() % pool.size()]; };

  for (int trial = 0; trial < 200; ++trial) {
    Small small;
    std::vector<Element> reference;
    for (int step = 0; step < 60; ++step) {
      switch (rng() % 11) {
        case 0:
        case 1: {
          Element e = pick();
          small.push_back(e);
          reference.push_back(e);
          break;
        }
        case 2:
          if (!reference.empty()) {
            small.pop_back();
            reference.pop_back();
          }
          break;
        case 3: {
          const size_t count = rng() % 9;
          Element e = pick();
          small.resize(count, e);
          reference.resize(count, e);
          break;
        }
        case 4: {
          const size_t pos = rng() % (reference.size() + 1);
          Element e = pick();
          small.insert_at(pos, e);
          reference.insert(reference.begin() + static_cast<std::ptrdiff_t>(pos), e);
          break;
        }
        case 5:
          if (!reference.empty()) {
            const size_t pos = rng() % reference.size();
            small.erase_at(pos);
            reference.erase(reference.begin() + static_cast<std::ptrdiff_t>(pos));
          }
          break;
        case 6:
          if (rng() % 4 == 0) {
            small.clear();
            reference.clear();
          }
          break;
        case 7: {  // copy construction and copy assignment over a list of another size
          Small copy(small);
          ExpectSame(copy, reference);
          Small other(rng() % 6, pick());
          other = small;
          ExpectSame(other, reference);
          small = other;
          break;
        }
        case 8: {  // move construction and move assignment, inline or on the heap
          Small moved(std::move(small));
          ExpectSame(moved, reference);
          EXPECT_TRUE(small.empty());
          Small other(rng() % 6, pick());
          other = std::move(moved);
          ExpectSame(other, reference);
          small = std::move(other);
          break;
        }
        case 9: {
          std::vector<Element> values(rng() % 7);
          for (auto& v : values) v = pick();
          small.assign(values.begin(), values.end());
          reference = values;
          break;
        }
        case 10:
          if (!reference.empty()) {  // resizing with one of its own elements as the fill value
            const size_t count = reference.size() + rng() % 6;
            Element own = reference.front();
            small.resize(count, small[0]);
            reference.resize(count, own);
          }
          break;
      }
      ExpectSame(small, reference);
    }
    // Every owner is accounted for: the pool, the reference and the small vector.
    for (const Element& e : pool) {
      long expected = 1;
      for (const Element& r : reference) expected += 2 * (r == e);
      EXPECT_EQ(e.use_count(), expected);
    }
  }
  for (const Element& e : pool) EXPECT_EQ(e.use_count(), 1) << "an element outlived its vectors";
}

TEST(SmallVector, SelfAssignmentKeepsElements) {
  Small small{std::make_shared<int>(1), std::make_shared<int>(2), std::make_shared<int>(3),
              std::make_shared<int>(4)};
  const Small& alias = small;
  small = alias;
  ASSERT_EQ(small.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(*small[static_cast<size_t>(i)], i + 1);
}

TEST(SmallVector, InlineElementsAreDestroyedWithTheVector) {
  auto e = std::make_shared<int>(0);
  {
    Small small{e, e};
    EXPECT_EQ(e.use_count(), 3);
  }
  EXPECT_EQ(e.use_count(), 1);
}

TEST(SmallVector, DimsCompareAndCopyAcrossTheInlineLimit) {
  dydx::Dims a{1, 2, 3, 4, 5, 6, 7, 8};  // over the 6 kept inline
  dydx::Dims b(a.begin(), a.end());
  EXPECT_TRUE(a == b);
  b.pop_back();
  EXPECT_FALSE(a == b);
  b.push_back(8);
  EXPECT_TRUE(a == b);
  dydx::Dims c = std::move(b);
  EXPECT_TRUE(a == c);
  EXPECT_TRUE(b.empty());
}
