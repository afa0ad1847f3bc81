#include "common/coord_protocol.h"

#include "common/wire.h"

namespace tailsafe {

namespace {

std::string TypeOf(const nlohmann::json& msg) {
  auto it = msg.find("type");
  return it != msg.end() && it->is_string() ? it->get<std::string>() : std::string("message");
}

}  // namespace

Result<nlohmann::json> ParseControl(std::string_view text) {
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded()) return Status::Error("a CONTROL frame is not valid JSON");
  if (!doc.is_object()) return Status::Error("a CONTROL frame is not a JSON object");
  auto it = doc.find("type");
  if (it == doc.end() || !it->is_string()) return Status::Error("a CONTROL message has no string 'type'");
  return doc;
}

std::string ControlFrame(const nlohmann::json& doc) {
  return EncodeControl(doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Status ReadString(const nlohmann::json& msg, const char* field, std::string* out) {
  auto it = msg.find(field);
  if (it == msg.end() || !it->is_string()) {
    return Status::Error(TypeOf(msg) + ": field '" + field + "' must be a string");
  }
  *out = it->get<std::string>();
  return Status::Ok();
}

Status ReadUint(const nlohmann::json& msg, const char* field, uint64_t* out) {
  auto it = msg.find(field);
  if (it == msg.end() || !it->is_number_unsigned()) {
    return Status::Error(TypeOf(msg) + ": field '" + field + "' must be an unsigned integer");
  }
  *out = it->get<uint64_t>();
  return Status::Ok();
}

Status ReadArray(const nlohmann::json& msg, const char* field, const nlohmann::json** out) {
  auto it = msg.find(field);
  if (it == msg.end() || !it->is_array()) return Status::Error(TypeOf(msg) + ": field '" + field + "' must be an array");
  *out = &*it;
  return Status::Ok();
}

}  // namespace tailsafe
