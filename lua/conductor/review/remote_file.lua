-- The live side of a review of a workspace on another machine (`ws.host`): its worktree
-- is there, so its files are read and written through that host's engine (`file_read`,
-- `file_write`), never through a path here. Each file is a buffer named
-- `conductor://<host>/<repo>/<ws name>/<path>` with 'buftype' acwrite: `:w` writes the
-- file on the host, unless it changed there since it was read (`:w!` writes over it); a
-- write that fails says so and leaves the buffer modified. `:w {file}` writes a copy here.
--
-- Not here: which file is shown, and the base side (review/diff.lua).

local M = {}

local api = vim.api
local bufs = require("conductor.bufs")
local engine = require("conductor.engine")
local format = require("conductor.format")
local notify = require("conductor.notify")

local group = api.nvim_create_augroup("conductor_remote_file", { clear = true })

---@class conductor.RemoteFile
---@field workspace string  the workspace id ("HOST:<id>")
---@field label string      "HOST:<ws name>", for messages
---@field path string       path in the worktree
---@field name string       the buffer's name (`M.name`): a `:w` to another name is a copy

-- Buffer variables besides `conductor_remote_file`:
--   conductor_remote_sha      git's blob id of the host file the buffer was read from or
--                             last written to; "" when it did not exist there
--   conductor_remote_warned   the blob id a reload of the modified buffer last warned about
--   conductor_remote_gone     `:e!` found the file deleted on the host
--   conductor_remote_readonly the file is not UTF-8: shown, never written from here

--- The name of the buffer of `path` in the worktree of `ws` (on `ws.host`).
---@param ws conductor.Workspace
---@param path string
---@return string
function M.name(ws, path)
  return M.prefix(ws) .. path
end

--- What the names of the buffers of `ws`'s files start with: the host, the repository
--- and the workspace (workspace names are unique only per repository).
---@param ws conductor.Workspace
---@return string
function M.prefix(ws)
  return ("conductor://%s/%s/%s/"):format(ws.host, ws.repo_name, ws.name)
end

--- The file a buffer of this module stands for, or nil.
---@param buf integer
---@return conductor.RemoteFile?
function M.of_buf(buf)
  local ok, file = pcall(api.nvim_buf_get_var, buf, "conductor_remote_file")
  return ok and type(file) == "table" and file or nil
end

-- Whether buffer `buf` holds a file of `ws` (by the workspace it was read from).
---@param buf integer
---@param ws conductor.Workspace
---@return boolean
local function of_workspace(buf, ws)
  local file = M.of_buf(buf)
  return file ~= nil and file.workspace == ws.id
end

---@param file conductor.RemoteFile
---@return string
local function where(file)
  return file.label .. "/" .. file.path
end

-- Whether `s` is valid UTF-8 (what a buffer's text must be to be sent back to the host).
---@param s string
---@return boolean
local function utf8_valid(s)
  if not s:find("[\128-\255]") then
    return true
  end
  local i, n = 1, #s
  while i <= n do
    local c = s:byte(i)
    local len
    if c < 0x80 then
      len = 1
    elseif c >= 0xC2 and c <= 0xDF then
      len = 2
    elseif c >= 0xE0 and c <= 0xEF then
      len = 3
    elseif c >= 0xF0 and c <= 0xF4 then
      len = 4
    else
      return false
    end
    if len > 1 then
      if i + len - 1 > n then
        return false
      end
      for k = i + 1, i + len - 1 do
        local b = s:byte(k)
        if b < 0x80 or b > 0xBF then
          return false
        end
      end
      local c2 = s:byte(i + 1)
      if
        (c == 0xE0 and c2 < 0xA0)
        or (c == 0xED and c2 > 0x9F)
        or (c == 0xF0 and c2 < 0x90)
        or (c == 0xF4 and c2 > 0x8F)
      then
        return false -- overlong, surrogate, beyond U+10FFFF
      end
    end
    i = i + len
  end
  return true
end

-- The text `:w` writes: the lines with the buffer's endings, a final newline unless the
-- file had none (and 'fixeol' is off). A buffer with no lines ("--No lines in buffer--")
-- is an empty file; one empty line is a file holding "\n", as Neovim writes them.
---@param buf integer
---@return string
local function join(buf)
  local bytes = api.nvim_buf_call(buf, function()
    return vim.fn.wordcount().bytes
  end)
  if bytes == 0 then
    return ""
  end
  local lines = api.nvim_buf_get_lines(buf, 0, -1, false)
  local nl = vim.bo[buf].fileformat == "dos" and "\r\n" or "\n"
  local text = table.concat(lines, nl)
  if vim.bo[buf].eol or vim.bo[buf].fixeol then
    text = text .. nl
  end
  return text
end

-- Puts `text` into `buf` as if read from disk: not modified. `fresh` (a new buffer, or
-- one `:e!` just emptied): not undoable either; else (an automatic reload) it is one
-- change the user can undo, and their undo history stays.
---@param buf integer
---@param text string
---@param fresh boolean
local function fill(buf, text, fresh)
  local lines, dos, eol = bufs.split(text)
  local levels = vim.bo[buf].undolevels
  if fresh then
    vim.bo[buf].undolevels = -1
  end
  vim.bo[buf].modifiable = true
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  if fresh then
    vim.bo[buf].undolevels = levels
  end
  vim.bo[buf].fileformat = dos and "dos" or "unix"
  vim.bo[buf].eol = eol
  vim.bo[buf].modified = false
end

--- Reads the file from the host: its text, whether it is binary, its blob id; nil when
--- it is not there.
---@param file conductor.RemoteFile
---@return { text: string, binary: boolean, sha: string? }?
local function read(file)
  local got = engine.call("file_read", { workspace = file.workspace, path = file.path })
  if type(got) ~= "table" or type(got.text) ~= "string" then
    return nil
  end
  return {
    text = got.text,
    binary = got.binary == true,
    sha = type(got.sha) == "string" and got.sha or nil,
  }
end

-- Records what `buf` now holds of the host file: its blob id ("" for no file).
---@param buf integer
---@param sha string?
local function set_sha(buf, sha)
  vim.b[buf].conductor_remote_sha = sha
  vim.b[buf].conductor_remote_warned = nil
end

-- Fills `buf` with the host's `got` (read just now), as read from disk.
---@param buf integer
---@param got { text: string, binary: boolean, sha: string? }
---@param fresh boolean
local function take(buf, got, fresh)
  local file = assert(M.of_buf(buf))
  fill(buf, got.text, fresh)
  set_sha(buf, got.sha)
  vim.b[buf].conductor_remote_gone = nil
  local readonly = not utf8_valid(got.text)
  vim.b[buf].conductor_remote_readonly = readonly or nil
  vim.bo[buf].readonly = readonly
  vim.bo[buf].modifiable = not readonly
  if readonly then
    notify.warn(
      ("%s is not UTF-8: shown read-only, it cannot be saved from here"):format(where(file))
    )
  end
end

-- `:w {file}` / `:saveas {file}` of a host file's buffer: a copy here, byte for byte;
-- the host file is not written, so the buffer stays as modified as it was.
---@param buf integer
---@param target string
local function write_copy(buf, target)
  local items = vim.split(join(buf), "\n", { plain = true })
  for i, item in ipairs(items) do
    items[i] = item:gsub("%z", "\n") -- writefile() writes a NL in an item as NUL
  end
  if vim.fn.writefile(items, target, "b") ~= 0 then
    return notify.error(("could not write %s"):format(target))
  end
  api.nvim_echo({ { ('"%s" written'):format(vim.fn.fnamemodify(target, ":~:.")) } }, false, {})
end

---@param buf integer
---@param target string the file `:w` names (`ev.match`)
---@param bang boolean `:w!`: over whatever the host has now
local function write(buf, target, bang)
  local file = M.of_buf(buf)
  if not file then
    return
  end
  if target ~= file.name then
    return write_copy(buf, target)
  end
  if vim.b[buf].conductor_remote_readonly then
    return notify.error(
      ("%s is not UTF-8: it cannot be saved from here (:w {file} writes a copy here)"):format(
        where(file)
      )
    )
  end
  if vim.b[buf].conductor_remote_gone and not bang and not vim.bo[buf].modified then
    return notify.error(
      ("%s was deleted on the host: nothing written (:w! writes this buffer there)"):format(
        where(file)
      )
    )
  end
  local params = { workspace = file.workspace, path = file.path, text = join(buf) }
  if not bang then
    params.expect = vim.b[buf].conductor_remote_sha
  end
  local ok, res = pcall(engine.call, "file_write", params)
  if not ok then
    -- Still modified: nothing is lost, and `:q` keeps asking.
    local err = notify.clean(res)
    if err:find("changed on the host since it was read", 1, true) then
      return notify.error(
        ("%s changed on the host since it was read: :e! reads it again, :w! writes over it"):format(
          where(file)
        )
      )
    end
    return notify.error(
      ("could not write %s: %s (the buffer keeps your changes; :w again)"):format(where(file), err)
    )
  end
  set_sha(buf, type(res) == "table" and type(res.sha) == "string" and res.sha or nil)
  vim.b[buf].conductor_remote_gone = nil
  vim.bo[buf].modified = false
  api.nvim_echo({ { ('"%s" written on %s'):format(file.path, file.label) } }, false, {})
  -- What a write to disk fires, for the review's refresh and the user's own autocmds.
  api.nvim_exec_autocmds("BufWritePost", { buffer = buf, modeline = false })
end

-- `:edit` / `:edit!`: Neovim has emptied the buffer; read it from the host again (there
-- is no such file here).
---@param buf integer
local function read_again(buf)
  local file = assert(M.of_buf(buf))
  local ok, got = pcall(read, file)
  if not ok then
    return notify.error(("could not read %s: %s"):format(where(file), notify.clean(got)))
  end
  if not got then
    -- Said, not silently an empty file: a `:w` of it would empty the file there.
    fill(buf, "", true)
    set_sha(buf, "")
    vim.b[buf].conductor_remote_gone = true
    return notify.warn(
      ("%s was deleted on the host: nothing to read (:w! writes this buffer there)"):format(
        where(file)
      )
    )
  elseif got.binary then
    fill(buf, "", true)
    vim.bo[buf].readonly, vim.bo[buf].modifiable = true, false
    vim.b[buf].conductor_remote_readonly = true
    return notify.warn(("%s is binary on the host now: not shown"):format(where(file)))
  end
  take(buf, got, true)
end

--- The buffer of `path` in the worktree of `ws` (on `ws.host`), read from the host when
--- it is new; nil and "binary" or "missing" when there is no text to show.
---@param ws conductor.Workspace
---@param path string
---@return integer? buf, ("binary"|"missing")? why
function M.open(ws, path)
  local name = M.name(ws, path)
  local buf = bufs.find(name)
  local stale = buf ~= nil and not of_workspace(buf, ws)
  if buf and stale and vim.bo[buf].modified then
    -- A buffer of an earlier workspace of that name (deleted, made again), with changes:
    -- not this one's file. The changes stay, under another name.
    local old = M.of_buf(buf)
    pcall(api.nvim_buf_set_name, buf, ("%s (%s)"):format(name, old and old.workspace or "old"))
    pcall(api.nvim_buf_del_var, buf, "conductor_remote_file")
    api.nvim_clear_autocmds({ group = group, buffer = buf })
    vim.bo[buf].buftype = "nofile"
    buf = nil
  end
  if buf and not stale and api.nvim_buf_is_loaded(buf) then
    M.reload(buf)
    return buf
  end
  ---@type conductor.RemoteFile
  local file = { workspace = ws.id, label = format.workspace_ref(ws), path = path, name = name }
  local got = read(file)
  if not got then
    return nil, "missing"
  elseif got.binary then
    return nil, "binary"
  end
  buf = buf or api.nvim_create_buf(true, false)
  api.nvim_buf_set_name(buf, name)
  vim.bo[buf].buftype = "acwrite"
  vim.bo[buf].swapfile = false
  api.nvim_buf_set_var(buf, "conductor_remote_file", file)
  take(buf, got, true)
  api.nvim_clear_autocmds({ group = group, buffer = buf })
  api.nvim_create_autocmd("BufWriteCmd", {
    group = group,
    buffer = buf,
    callback = function(ev)
      write(ev.buf, ev.match, vim.v.cmdbang == 1)
    end,
  })
  api.nvim_create_autocmd("BufReadCmd", {
    group = group,
    buffer = buf,
    callback = function(ev)
      read_again(ev.buf)
    end,
  })
  local ok, ft = pcall(vim.filetype.match, { filename = path, buf = buf })
  if ok and ft then
    vim.bo[buf].filetype = ft
  end
  return buf
end

--- The modified buffers of `ws`'s files (none for a workspace here).
---@param ws conductor.Workspace
---@return integer[]
function M.modified_buffers(ws)
  local out = {}
  if not ws.host then
    return out
  end
  local prefix = M.prefix(ws)
  for _, buf in ipairs(api.nvim_list_bufs()) do
    if
      vim.bo[buf].modified
      and vim.startswith(api.nvim_buf_get_name(buf), prefix)
      and of_workspace(buf, ws)
    then
      out[#out + 1] = buf
    end
  end
  return out
end

--- Reads every unmodified buffer of `ws`'s files from the host again (after a change
--- made there: a revert to a checkpoint, a restore).
---@param ws conductor.Workspace
function M.reload_all(ws)
  if not ws.host then
    return
  end
  local prefix = M.prefix(ws)
  for _, buf in ipairs(api.nvim_list_bufs()) do
    if
      api.nvim_buf_is_loaded(buf)
      and vim.startswith(api.nvim_buf_get_name(buf), prefix)
      and of_workspace(buf, ws)
    then
      pcall(M.reload, buf)
    end
  end
end

--- Reads the file of `buf` from the host again. A buffer with changes of its own is left
--- alone (as `:checktime` leaves a modified buffer), but when the host's file is no
--- longer what it was read from, that is said once. Returns false when the file is no
--- longer there.
---@param buf integer
---@return boolean
function M.reload(buf)
  local file = M.of_buf(buf)
  if not file then
    return true
  end
  local got = read(file)
  if vim.bo[buf].modified then
    local now = got and got.sha or ""
    local was = vim.b[buf].conductor_remote_sha
    if (got == nil or got.sha ~= nil) and was ~= nil and now ~= was then
      if vim.b[buf].conductor_remote_warned ~= now then
        vim.b[buf].conductor_remote_warned = now
        notify.warn(
          ("%s %s on the host and this buffer has unsaved changes: :e! reads it again, :w! writes over it"):format(
            where(file),
            got and "changed" or "was deleted"
          )
        )
      end
    end
    return got ~= nil and not got.binary
  end
  if not got or got.binary then
    return false
  end
  if join(buf) ~= got.text then
    take(buf, got, false)
  else
    set_sha(buf, got.sha)
  end
  return true
end

return M
