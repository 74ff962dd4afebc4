-- `:checkhealth conductor`: everything conductor needs, each with how to fix
-- it. Reads only; never prompts (trust is looked up, not asked).

local M = {}

local health = vim.health

-- The commit the library was built from ("0.1.0 (abc1234)") against the
-- checkout's: a mismatch means the library is stale. Done here, not at
-- startup, because asking git costs a process.
---@param version string
---@param root string
local function check_stamp(version, root)
  local built = version:match("%((%x+)%)")
  if not built then
    health.info("the library carries no commit stamp: cannot tell whether it is stale")
    return
  end
  local res = vim
    .system({ "git", "-C", root, "rev-parse", "HEAD" }, { text = true })
    :wait(2000)
  local head = res.code == 0 and vim.trim(res.stdout) or nil
  if not head then
    return -- not a git checkout (a packaged install): nothing to compare
  end
  if vim.startswith(head, built) then
    health.ok("library matches the checkout (" .. built .. ")")
  else
    health.warn(
      ("library was built from %s, the checkout is at %s"):format(built, head:sub(1, #built)),
      { ("rebuild: `cargo build --release` in %s, then restart Neovim"):format(root) }
    )
  end
end

local function check_library()
  local engine = require("conductor.engine")
  local ok, core = pcall(engine.load)
  if not ok then
    health.error(tostring(core), { "or point $CONDUCTOR_LIB at a built libconductor_core" })
    return false
  end
  local vok, version = pcall(core.version)
  version = vok and tostring(version) or "unknown"
  health.ok(("library %s, version %s"):format(engine.path(), version))
  check_stamp(version, engine.root())
  return true
end

local function check_git()
  if vim.fn.executable("git") == 0 then
    health.error("git not found on PATH", { "install git; fetch and push use it" })
    return
  end
  local res = vim.system({ "git", "--version" }, { text = true }):wait(2000)
  health.ok(vim.trim(res.stdout or "git"))
end

-- Writable, or creatable: its nearest existing ancestor is writable.
---@param label string
---@param dir string
local function check_writable(label, dir)
  local existing = dir
  while vim.fn.isdirectory(existing) == 0 and existing ~= "/" do
    existing = vim.fs.dirname(existing)
  end
  if vim.fn.filewritable(existing) == 2 then
    health.ok(("%s %s is writable"):format(label, dir))
  else
    health.error(("%s %s is not writable (%s)"):format(label, dir, existing), {
      "fix the permissions, or choose another directory",
    })
  end
end

local advice = {
  changed = "changed since you trusted it: its scripts are skipped until you trust it again"
    .. " (open it, then :trust)",
  denied = "denied in the trust database: its scripts never run (open it, then :trust to allow)",
  unknown = "not trusted yet: conductor asks before its scripts first run",
  missing = "not readable",
}

local function check_repo()
  local ok, repo = pcall(require("conductor.workspace").repo)
  if not ok then
    health.info("not in a git repository here (" .. tostring(repo) .. ")")
    return
  end
  health.info(("repository %s (default branch %s)"):format(repo.root, repo.default_branch))
  if #(repo.config_files or {}) == 0 then
    health.info(
      "no config files (.conductor/settings.local.toml, .conductor/settings.toml, conductor.json)"
    )
  end
  local trust = require("conductor.trust")
  for _, file in ipairs(repo.config_files or {}) do
    if not file.has_scripts then
      health.ok(file.path .. ": no scripts, nothing to trust")
    else
      local status = trust.status(file.path)
      if status == "trusted" then
        health.ok(file.path .. ": scripts trusted")
      elseif status == "unknown" then
        health.info(file.path .. ": " .. advice.unknown)
      else
        health.warn(file.path .. ": " .. advice[status])
      end
    end
  end
end

function M.check()
  health.start("conductor.nvim")
  if vim.fn.has("nvim-0.11") == 1 then
    health.ok("Neovim " .. tostring(vim.version()))
  else
    health.error("Neovim 0.11 or newer is required, this is " .. tostring(vim.version()))
  end
  check_git()
  local config = require("conductor.config")
  check_writable("state directory", vim.fn.stdpath("state") .. "/conductor")
  check_writable("workspaces_root", vim.fs.normalize(config.get().workspaces_root))

  health.start("conductor.nvim: engine")
  if check_library() then
    health.start("conductor.nvim: this repository")
    check_repo()
  end
end

return M
