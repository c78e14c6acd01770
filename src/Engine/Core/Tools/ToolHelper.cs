using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DeploymentRollback.Engine;

/// <summary>
/// One long-lived process of a tool's own language that answers requests in JSON lines, so that one tool start serves
/// the whole rollback (a migration tool's list, plan, checkpoint, downgrade and after-state; Compose v1's configs and
/// 'up') instead of one start per command. The script is a fixed file embedded in this assembly
/// (Strategies/Database/Helpers/*, Strategies/DockerCompose/compose_helper.py), run as "&lt;python&gt; -c &lt;script&gt;" or
/// "bin/rails runner &lt;script&gt;", or (EF Core) the module's own DeploymentRollback.EfCoreHelper.dll; it is given data only (argument lists as JSON on stdin), never code. Null from StartAsync means the helper could not set
/// the project up: the tool then runs its commands one process each, as before, with the same messages.
/// </summary>
internal sealed class ToolHelper : IAsyncDisposable
{
    private const int Protocol = 1;
    private const int MaxCapturedChars = 1_000_000;

    private readonly Process process;
    private readonly StringBuilder stderr = new();
    private readonly SemaphoreSlim turn = new(1, 1);

    private ToolHelper(Process process)
    {
        this.process = process;
    }

    /// <summary>Whether the process is still there to answer (false after it crashed or was killed).</summary>
    public bool Alive => !process.HasExited;

    /// <summary>The helper started and set up, or null (with the reason in whyNot) when it cannot serve this project.</summary>
    public static async Task<(ToolHelper? Helper, string? WhyNot)> StartAsync(string program, IEnumerable<string> leadingArguments, string? script, string folder,
        IReadOnlyDictionary<string, string>? environment, CancellationToken cancellation)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            CreateNoWindow = true,
            WorkingDirectory = folder,
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardInputEncoding = new UTF8Encoding(false),
        };
        foreach (var argument in leadingArguments)
        {
            info.ArgumentList.Add(argument);
        }

        if (script is not null)
        {
            info.ArgumentList.Add(Script(script));
        }

        if (environment is not null)
        {
            foreach (var (key, value) in environment)
            {
                info.Environment[key] = value;
            }
        }

        var process = new Process { StartInfo = info };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            process.Dispose();
            return (null, e.Message);
        }

        var helper = new ToolHelper(process);
        process.ErrorDataReceived += (_, e) => helper.AppendError(e.Data);
        process.BeginErrorReadLine();
        try
        {
            var ready = await helper.ReadReadyAsync(cancellation).ConfigureAwait(false);
            if (ready?["ready"]?.GetValue<bool>() == true && ready["protocol"]?.GetValue<int>() == Protocol)
            {
                return (helper, null);
            }

            var why = ready?["error"]?.GetValue<string>() ?? helper.TakeError();
            await helper.DisposeAsync().ConfigureAwait(false);
            return (null, why);
        }
        catch (Exception e) when (e is IOException or JsonException or InvalidOperationException or TimeoutException)
        {
            await helper.DisposeAsync().ConfigureAwait(false);
            return (null, e.Message);
        }
    }

    /// <summary>
    /// One request, answered as a run of the tool's command would be (exit code, output, error output). A helper that dies
    /// on the way answers as a process that ended with its exit code and what it printed to stderr.
    /// </summary>
    public async Task<ProcessRunResult> RunAsync(JsonObject request, TimeSpan timeout, CancellationToken cancellation)
    {
        var (answer, run) = await CallAsync(request, timeout, cancellation).ConfigureAwait(false);
        return run ?? new ProcessRunResult(answer!["exit"]?.GetValue<int>() ?? 1, answer["stdout"]?.GetValue<string>() ?? "", answer["stderr"]?.GetValue<string>() ?? "", TimeSpan.Zero, false);
    }

    /// <summary>The answer as JSON, or (when the helper died or timed out) the run that says so.</summary>
    public async Task<(JsonObject? Answer, ProcessRunResult? Failed)> CallAsync(JsonObject request, TimeSpan timeout, CancellationToken cancellation)
    {
        await turn.WaitAsync(cancellation).ConfigureAwait(false);
        var watch = Stopwatch.StartNew();
        try
        {
            TakeError();
            await process.StandardInput.WriteLineAsync(request.ToJsonString().AsMemory(), cancellation).ConfigureAwait(false);
            await process.StandardInput.FlushAsync(cancellation).ConfigureAwait(false);
            var answer = await ReadAnswerAsync(timeout, cancellation).ConfigureAwait(false);
            if (answer is not null)
            {
                return (answer, null);
            }
        }
        catch (IOException)
        {
            // The helper is gone: reported below as the exit it made.
        }
        catch (TimeoutException)
        {
            Kill();
            return (null, new ProcessRunResult(-1, "", TakeError(), watch.Elapsed, true));
        }
        finally
        {
            turn.Release();
        }

        await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false);
        return (null, new ProcessRunResult(process.HasExited ? process.ExitCode : -1, "", TakeError(), watch.Elapsed, false));
    }

    /// <summary>The ready line; what the application prints while it boots, before the script runs, is skipped.</summary>
    private async Task<JsonObject?> ReadReadyAsync(CancellationToken cancellation)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        limit.CancelAfter(TimeSpan.FromMinutes(2));
        try
        {
            while (await process.StandardOutput.ReadLineAsync(limit.Token).ConfigureAwait(false) is { } line)
            {
                if (line.StartsWith("{\"ready\"", StringComparison.Ordinal))
                {
                    return JsonNode.Parse(line) as JsonObject;
                }
            }

            return null;
        }
        catch (OperationCanceledException)
        {
            Kill();
            cancellation.ThrowIfCancellationRequested();
            throw new TimeoutException("The helper did not start within two minutes.");
        }
    }

    private async Task<JsonObject?> ReadAnswerAsync(TimeSpan timeout, CancellationToken cancellation)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        limit.CancelAfter(timeout);
        try
        {
            var line = await process.StandardOutput.ReadLineAsync(limit.Token).ConfigureAwait(false);
            return line is null ? null : JsonNode.Parse(line) as JsonObject;
        }
        catch (OperationCanceledException)
        {
            Kill();
            cancellation.ThrowIfCancellationRequested();
            throw new TimeoutException($"The helper did not answer within {timeout}.");
        }
    }

    private void AppendError(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (stderr)
        {
            if (stderr.Length < MaxCapturedChars)
            {
                stderr.Append(line).Append('\n');
            }
        }
    }

    private string TakeError()
    {
        lock (stderr)
        {
            var text = stderr.ToString();
            stderr.Clear();
            return text;
        }
    }

    private void Kill()
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    /// <summary>Ends the helper: the end of its input is its signal to exit; killed if it does not.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            process.StandardInput.Close();
            await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or TimeoutException or InvalidOperationException)
        {
            Kill();
        }

        process.Dispose();
        turn.Dispose();
    }

    /// <summary>The Python interpreter a command (alembic, docker-compose v1) runs under, from its #! line ("#!/usr/bin/python3", "#!/usr/bin/env python3"); null when it names none.</summary>
    public static string? PythonInterpreter(string command)
    {
        var path = command.Contains('/', StringComparison.Ordinal) ? command
            : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
                .Select(folder => System.IO.Path.Combine(folder, command)).FirstOrDefault(File.Exists);
        string? first;
        try
        {
            using var reader = path is not null && File.Exists(path) ? new StreamReader(path) : null;
            first = reader?.ReadLine();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        if (first is null || !first.StartsWith("#!", StringComparison.Ordinal))
        {
            return null;
        }

        var words = first[2..].Split(' ', '\t', StringSplitOptions.RemoveEmptyEntries);
        var interpreter = words.Length > 1 && System.IO.Path.GetFileName(words[0]) == "env" ? words[1] : words.FirstOrDefault();
        return interpreter is not null && System.IO.Path.GetFileName(interpreter).StartsWith("python", StringComparison.Ordinal) ? interpreter : null;
    }

    /// <summary>A helper's text; a Python helper's starts with what the Python helpers share (helper_common.py).</summary>
    private static string Script(string name) =>
        name.EndsWith(".py", StringComparison.Ordinal) ? Resource("helper_common.py") + "\n" + Resource(name) : Resource(name);

    private static string Resource(string name)
    {
        using var stream = typeof(ToolHelper).Assembly.GetManifestResourceStream($"DeploymentRollback.Engine.Helpers.{name}")
            ?? throw new InvalidOperationException($"The helper script {name} is missing from {typeof(ToolHelper).Assembly.GetName().Name}.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }
}
