# Embeds the dashboard (web/) into the binary: cmake/embed_gen.cmake turns
# every file under web/ into a C array in generated/web_assets.c, compiled
# into c360lib (src/serve/web.h declares the table). Rebuilt when a file
# under web/ changes.
file(GLOB_RECURSE C360_WEB_FILES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/web/*)
set(C360_WEB_C ${PROJECT_BINARY_DIR}/generated/web_assets.c)
add_custom_command(OUTPUT ${C360_WEB_C}
  COMMAND ${CMAKE_COMMAND} -DSRC=${PROJECT_SOURCE_DIR}/web -DOUT=${C360_WEB_C}
          -P ${PROJECT_SOURCE_DIR}/cmake/embed_gen.cmake
  DEPENDS ${C360_WEB_FILES} ${PROJECT_SOURCE_DIR}/cmake/embed_gen.cmake
  COMMENT "Embedding web/ into the binary"
  VERBATIM)
target_sources(c360lib PRIVATE ${C360_WEB_C})
