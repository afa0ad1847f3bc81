// Field readers for the coordinator's stored records (recovery_record, agent_record,
// bolt_record): each error names the field, so a document that cannot be read says why.
// Optional fields that are absent leave the default.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace tailsafe::record_fields {

inline Status String(const nlohmann::json& d, const char* field, std::string* out) {
  auto it = d.find(field);
  if (it == d.end() || !it->is_string()) return Status::Error(std::string("field '") + field + "' must be a string");
  *out = it->get<std::string>();
  return Status::Ok();
}

inline Status Uint(const nlohmann::json& d, const char* field, uint64_t* out) {
  auto it = d.find(field);
  bool non_negative = it != d.end() && (it->is_number_unsigned() || (it->is_number_integer() && it->get<int64_t>() >= 0));
  if (!non_negative) return Status::Error(std::string("field '") + field + "' must be an unsigned integer");
  *out = it->get<uint64_t>();
  return Status::Ok();
}

inline Status Bool(const nlohmann::json& d, const char* field, bool* out) {
  auto it = d.find(field);
  if (it == d.end() || !it->is_boolean()) return Status::Error(std::string("field '") + field + "' must be true or false");
  *out = it->get<bool>();
  return Status::Ok();
}

inline Status StringList(const nlohmann::json& d, const char* field, std::vector<std::string>* out) {
  auto it = d.find(field);
  if (it == d.end() || !it->is_array()) return Status::Error(std::string("field '") + field + "' must be an array");
  out->clear();
  for (const nlohmann::json& e : *it) {
    if (!e.is_string()) return Status::Error(std::string("field '") + field + "' must hold strings only");
    out->push_back(e.get<std::string>());
  }
  return Status::Ok();
}

inline Status OptionalUint(const nlohmann::json& d, const char* field, uint64_t* out) {
  return d.contains(field) ? Uint(d, field, out) : Status::Ok();
}

inline Status OptionalString(const nlohmann::json& d, const char* field, std::string* out) {
  return d.contains(field) ? String(d, field, out) : Status::Ok();
}

inline Status OptionalBool(const nlohmann::json& d, const char* field, bool* out) {
  return d.contains(field) ? Bool(d, field, out) : Status::Ok();
}

}  // namespace tailsafe::record_fields
