// OrderedDict: libtorch's torch::OrderedDict, a map that keeps insertion order. Modules return their
// named parameters, buffers and children in one: `for (auto& p : m->named_parameters())
// std::cout << p.key() << p.value().sizes();`, `m->named_parameters()["fc1.weight"]`.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dydx/error.hpp"

namespace dydx {

template <class Key, class Value>
class OrderedDict {
 public:
  /// One entry: its key and its value, as torch::OrderedDict::Item.
  class Item {
   public:
    Item(Key key, Value value) : pair_(std::move(key), std::move(value)) {}
    const Key& key() const noexcept { return pair_.first; }
    Value& value() noexcept { return pair_.second; }
    const Value& value() const noexcept { return pair_.second; }
    Value& operator*() noexcept { return pair_.second; }
    const Value& operator*() const noexcept { return pair_.second; }
    Value* operator->() noexcept { return &pair_.second; }
    const Value* operator->() const noexcept { return &pair_.second; }
    const std::pair<Key, Value>& pair() const noexcept { return pair_; }

   private:
    std::pair<Key, Value> pair_;
  };
  using Iterator = typename std::vector<Item>::iterator;
  using ConstIterator = typename std::vector<Item>::const_iterator;

  /// key_description names the keys in error messages ("Parameter 'weight' already defined").
  explicit OrderedDict(std::string key_description = "Key") : key_description_(std::move(key_description)) {}

  const std::string& key_description() const noexcept { return key_description_; }

  /// Adds an entry at the end; errors if the key is already there.
  Value& insert(Key key, Value value) {
    DYDX_CHECK(index_.count(key) == 0, key_description_, " '", key, "' already defined");
    index_.emplace(key, items_.size());
    items_.emplace_back(std::move(key), std::move(value));
    return items_.back().value();
  }
  /// The value of key, or null.
  Value* find(const Key& key) noexcept {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &items_[it->second].value();
  }
  const Value* find(const Key& key) const noexcept {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &items_[it->second].value();
  }
  bool contains(const Key& key) const noexcept { return index_.count(key) != 0; }
  /// The value of key; errors if there is none.
  Value& operator[](const Key& key) {
    if (Value* v = find(key)) return *v;
    detail::fail(key_description_, " '", key, "' is not defined");
  }
  const Value& operator[](const Key& key) const {
    if (const Value* v = find(key)) return *v;
    detail::fail(key_description_, " '", key, "' is not defined");
  }
  /// The entry at position index (insertion order); errors past the end.
  Item& operator[](size_t index) {
    DYDX_CHECK(index < items_.size(), "Index ", index, " is out of bounds");
    return items_[index];
  }
  const Item& operator[](size_t index) const {
    DYDX_CHECK(index < items_.size(), "Index ", index, " is out of bounds");
    return items_[index];
  }
  /// Removes key's entry (later entries move up); errors if there is none.
  void erase(const Key& key) {
    auto it = index_.find(key);
    DYDX_CHECK(it != index_.end(), key_description_, " '", key, "' is not defined");
    const size_t at = it->second;
    index_.erase(it);
    items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(at));
    for (auto& [k, i] : index_)
      if (i > at) --i;
  }
  void clear() {
    index_.clear();
    items_.clear();
  }

  size_t size() const noexcept { return items_.size(); }
  bool is_empty() const noexcept { return items_.empty(); }
  Item& front() {
    DYDX_CHECK(!items_.empty(), "Called front() on an empty OrderedDict");
    return items_.front();
  }
  Item& back() {
    DYDX_CHECK(!items_.empty(), "Called back() on an empty OrderedDict");
    return items_.back();
  }
  Iterator begin() noexcept { return items_.begin(); }
  Iterator end() noexcept { return items_.end(); }
  ConstIterator begin() const noexcept { return items_.begin(); }
  ConstIterator end() const noexcept { return items_.end(); }
  const std::vector<Item>& items() const noexcept { return items_; }
  std::vector<Key> keys() const {
    std::vector<Key> out;
    out.reserve(items_.size());
    for (const Item& item : items_) out.push_back(item.key());
    return out;
  }
  std::vector<Value> values() const {
    std::vector<Value> out;
    out.reserve(items_.size());
    for (const Item& item : items_) out.push_back(item.value());
    return out;
  }

 private:
  std::unordered_map<Key, size_t> index_;
  std::vector<Item> items_;
  std::string key_description_;
};

}  // namespace dydx
