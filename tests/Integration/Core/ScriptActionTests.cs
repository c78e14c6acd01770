using System.Diagnostics;
using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Core;

/// <summary>Restart scripts and smoke tests given as files: real shell scripts, real child processes.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ScriptActionTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("dr-script-action-").FullName;
    private readonly List<int> started = new();

    public void Dispose()
    {
        // Whatever a failing test left running is stopped here, so that no test leaves a process behind.
        foreach (var pid in started.Where(IsAlive))
        {
            try { Process.GetProcessById(pid).Kill(); } catch (ArgumentException) { } catch (InvalidOperationException) { }
        }

        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task Cancelling_kills_the_script_and_every_process_it_started()
    {
        var script = Script("restart.sh", $"sleep 300 &\necho $$ $! > '{folder}/pids'\nwait");
        using var cancel = new CancellationTokenSource();
        var run = ScriptAction.FromFile(script).Run(cancel.Token);

        var pids = await WaitForPidsAsync();
        cancel.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.All(pids, pid => Assert.False(WaitUntilGone(pid), $"process {pid} outlived the cancelled step"));
    }

    [Fact]
    public async Task Cancelling_returns_even_when_a_process_that_left_the_tree_keeps_the_output_open()
    {
        // The subshell exits at once, so its sleep is no longer the script's child but still holds the script's stdout.
        var script = Script("restart.sh", $"(sleep 300 & echo $! > '{folder}/pids')\nsleep 300");
        using var cancel = new CancellationTokenSource();
        var run = ScriptAction.FromFile(script).Run(cancel.Token);

        await WaitForPidsAsync();
        cancel.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task A_restart_that_leaves_a_service_running_in_the_background_completes_with_its_exit_code()
    {
        // The usual restart script: start the service in the background (it inherits stdout) and exit.
        var script = Script("restart.sh", $"sleep 300 &\necho $! > '{folder}/pids'\necho restarted\nexit 0");
        var run = ScriptAction.FromFile(script, timeout: TimeSpan.FromMinutes(2)).Run(CancellationToken.None);

        await WaitForPidsAsync();
        var outcome = await run.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(outcome.Succeeded, outcome.Output);
        Assert.Equal(0, outcome.ExitCode);
        Assert.Contains("restarted", outcome.Output);
    }

    [Fact]
    public void A_file_that_is_not_executable_is_refused_when_the_step_is_built()
    {
        var script = Script("smoke.sh", "exit 0");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var error = Assert.Throws<RollbackException>(() => ScriptAction.FromFile(script));
        Assert.Equal(ErrorIds.ScriptNotExecutable, error.ErrorId);
        Assert.Contains("chmod +x", error.Message);
    }

    private string Script(string name, string body)
    {
        var path = Path.Combine(folder, name);
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    private async Task<int[]> WaitForPidsAsync()
    {
        var file = Path.Combine(folder, "pids");
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            var text = File.Exists(file) ? File.ReadAllText(file) : "";
            if (text.EndsWith('\n'))
            {
                var pids = text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray();
                started.AddRange(pids);
                return pids;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException("The script did not start.");
    }

    /// <summary>True when the process is still there after a few seconds (a killed one may take a moment to be reaped).</summary>
    private static bool WaitUntilGone(int pid)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (IsAlive(pid) && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(50);
        }

        return IsAlive(pid);
    }

    /// <summary>A zombie (killed, not yet reaped by its parent) counts as gone.</summary>
    private static bool IsAlive(int pid)
    {
        var stat = $"/proc/{pid}/stat";
        try
        {
            var text = File.ReadAllText(stat);
            return text[(text.LastIndexOf(')') + 2)..][0] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }
}
