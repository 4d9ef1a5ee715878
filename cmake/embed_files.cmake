# Embeds the files `c360 demo` writes out (the shipped functions and the
# tutorial's connector JSON) into the binary as generated/embedded_files.c
# (table in src/demo/embedded.h). Rebuilt when one of them changes.
set(C360_EMBED_FILES
  ${PROJECT_SOURCE_DIR}/functions/customer360.yaml
  ${PROJECT_SOURCE_DIR}/functions/customer360.js
  ${PROJECT_SOURCE_DIR}/functions/customer360.json
  ${PROJECT_SOURCE_DIR}/examples/home-delivery-sink.json)
set(C360_EMBED_C ${PROJECT_BINARY_DIR}/generated/embedded_files.c)
add_custom_command(OUTPUT ${C360_EMBED_C}
  COMMAND ${CMAKE_COMMAND} "-DFILES=${C360_EMBED_FILES}" -DOUT=${C360_EMBED_C}
          -P ${PROJECT_SOURCE_DIR}/cmake/embed_files_gen.cmake
  DEPENDS ${C360_EMBED_FILES} ${PROJECT_SOURCE_DIR}/cmake/embed_files_gen.cmake
  COMMENT "Embedding the shipped functions and examples"
  VERBATIM)
target_sources(c360lib PRIVATE ${C360_EMBED_C})
