#include "common/framed_channel.h"

namespace tailsafe {

Status FramedChannel::Receive(std::string_view in, std::string* to_send) {
  plain_.clear();
  Status s = channel_.Receive(in, to_send, &plain_);
  if (s.ok() && !plain_.empty()) reader_.Feed(plain_.data(), plain_.size());
  return s;
}

Status FramedChannel::AtEof() const {
  if (Status s = channel_.AtEof(); !s) return s;
  return reader_.AtEof();
}

}  // namespace tailsafe
