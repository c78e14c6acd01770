using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

/// <summary>
/// A command gets a helper process only when its #! line names a Python interpreter (alembic, docker-compose v1 as
/// Debian and pip install them); a shell wrapper, a binary (Compose's standalone build) or a missing file runs its
/// commands one process each.
/// </summary>
public sealed class ToolInterpreterTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("dr-interpreter-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(folder, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private string Write(string name, string text) => Write(name, System.Text.Encoding.UTF8.GetBytes(text));

    [Theory]
    [InlineData("#!/usr/bin/python3\nimport re\n", "/usr/bin/python3")]
    [InlineData("#!/usr/bin/env python3\nimport re\n", "python3")]
    [InlineData("#! /opt/venv/bin/python3.11 -I\n", "/opt/venv/bin/python3.11")]
    [InlineData("#!/bin/sh\nexec /usr/bin/docker-compose \"$@\"\n", null)]
    [InlineData("#!/usr/bin/env bash\n", null)]
    [InlineData("import re\n", null)]
    [InlineData("", null)]
    public void Reads_the_interpreter_from_the_first_line(string text, string? expected) =>
        Assert.Equal(expected, ToolHelper.PythonInterpreter(Write("tool", text)));

    [Fact]
    public void A_binary_or_a_missing_command_has_none()
    {
        var elf = new byte[4096];
        new byte[] { 0x7f, (byte)'E', (byte)'L', (byte)'F' }.CopyTo(elf, 0);
        Assert.Null(ToolHelper.PythonInterpreter(Write("docker-compose", elf)));
        Assert.Null(ToolHelper.PythonInterpreter(Path.Combine(folder, "absent")));
        Assert.Null(ToolHelper.PythonInterpreter("no-such-command-" + Guid.NewGuid().ToString("N")));
    }
}
