-- Loading the modules a config or a completion loads early (the agent terminals, the
-- statusline, the picker) wires their listeners but never loads the library: buffers,
-- windows and 'background' changing in a session that never used conductor cost nothing.
local T = require("harness")
T.case("modules loaded, events fired: the library is still not loaded", function()
  require("conductor.agent")
  require("conductor.statusline")
  require("conductor.picker")
  vim.cmd("doautocmd BufEnter")
  vim.cmd("doautocmd FocusGained")
  vim.cmd("vsplit")
  vim.cmd("new")
  vim.o.background = vim.o.background == "dark" and "light" or "dark"
  vim.wait(300)
  T.eq(require("conductor.engine").path(), nil, "no library loaded")
end)
