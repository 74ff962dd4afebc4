-- The user's init.lua, as a plugin manager would leave it: the plugin's checkout on the
-- runtimepath (plugin/ is then sourced at startup like any plugin), setup() called, and
-- the library found by the loader (tests point CONDUCTOR_LIB at the build under test).
local root = vim.env.CONDUCTOR_PLUGIN_ROOT
vim.opt.runtimepath:prepend(root)
vim.opt.runtimepath:append(root .. "/tests/nvim")
vim.o.swapfile = false
vim.o.shadafile = "NONE"

-- Options for setup() as JSON (tests/common/screen.rs), as a user's config would give.
if vim.env.CONDUCTOR_TEST_SETUP and vim.env.CONDUCTOR_TEST_SETUP ~= "" then
  require("conductor").setup(vim.json.decode(vim.env.CONDUCTOR_TEST_SETUP))
end

-- After startup, run the test case named by the environment (none: a user at the keys).
vim.api.nvim_create_autocmd("VimEnter", {
  once = true,
  callback = function()
    if not vim.env.CONDUCTOR_TEST_CASE then
      return
    end
    vim.schedule(function()
      require("harness").run(vim.env.CONDUCTOR_TEST_CASE)
    end)
  end,
})
