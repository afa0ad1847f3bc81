// The status page's script and stylesheet (coordinator/web/), built into the binary with the
// assembler's .incbin, so the coordinator serves them with nothing to install or fetch. Each
// ends in a NUL (not served) and its _end symbol marks where. The Makefile makes this object
// depend on the files.
asm(R"(
  .section .rodata
  .global ts_web_app_js
  .global ts_web_app_js_end
ts_web_app_js:
  .incbin "coordinator/web/app.js"
ts_web_app_js_end:
  .byte 0
  .global ts_web_style_css
  .global ts_web_style_css_end
ts_web_style_css:
  .incbin "coordinator/web/style.css"
ts_web_style_css_end:
  .byte 0
  .previous
)");
