using System.Diagnostics;
using System.Text;

namespace DeploymentRollback.Engine;

public sealed record ProcessRequest(string FileName, IReadOnlyList<string> Arguments)
{
    public string? WorkingDirectory { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>Extra environment; its values are never logged.</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }
}

public sealed record ProcessRunResult(int ExitCode, string StandardOutput, string StandardError, TimeSpan Duration, bool TimedOut)
{
    public string CombinedOutput => string.IsNullOrEmpty(StandardError) ? StandardOutput : StandardOutput + StandardError;
}

/// <summary>Runs a program with an argument list (no shell), a timeout, and captured output.</summary>
public static class ProcessRunner
{
    /// <summary>Output beyond this many characters per stream is dropped, so a chatty tool cannot exhaust memory.</summary>
    private const int MaxCapturedChars = 1_000_000;

    /// <summary>How long output may still arrive after the process ended.</summary>
    private static readonly TimeSpan OutputGrace = TimeSpan.FromSeconds(2);

    public static async Task<ProcessRunResult> RunAsync(ProcessRequest request, CancellationToken cancellation)
    {
        var info = new ProcessStartInfo(request.FileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            CreateNoWindow = true,
            WorkingDirectory = request.WorkingDirectory ?? System.Environment.CurrentDirectory,
        };
        foreach (var argument in request.Arguments)
        {
            info.ArgumentList.Add(argument);
        }

        if (request.Environment is not null)
        {
            foreach (var (key, value) in request.Environment)
            {
                info.Environment[key] = value;
            }
        }

        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var stdoutClosed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stderrClosed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Append(stdout, e.Data, stdoutClosed);
        process.ErrorDataReceived += (_, e) => Append(stderr, e.Data, stderrClosed);
        process.Exited += (_, _) => exited.TrySetResult();
        var watch = Stopwatch.StartNew();
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        // Waits for the process itself, not for its output to close (Process.WaitForExitAsync waits for both): a
        // service the script started in the background inherits the output and may keep it open for good.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(request.Timeout);
        var timedOut = false;
        try
        {
            await exited.Task.WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            await exited.Task.ConfigureAwait(false);
            cancellation.ThrowIfCancellationRequested();
            timedOut = true;
        }

        try
        {
            await Task.WhenAll(stdoutClosed.Task, stderrClosed.Task).WaitAsync(OutputGrace, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Still held open by a process that outlives this one: keep what arrived.
        }

        return new ProcessRunResult(timedOut ? -1 : process.ExitCode, Captured(stdout), Captured(stderr), watch.Elapsed, timedOut);
    }

    private static string Captured(StringBuilder buffer)
    {
        lock (buffer)
        {
            return buffer.ToString();
        }
    }

    private static void Append(StringBuilder buffer, string? line, TaskCompletionSource closed)
    {
        if (line is null)
        {
            closed.TrySetResult();
            return;
        }

        lock (buffer)
        {
            if (buffer.Length < MaxCapturedChars)
            {
                buffer.Append(line).Append('\n');
            }
        }
    }
}
