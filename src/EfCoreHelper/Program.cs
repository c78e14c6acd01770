using System.Reflection;
using System.Text;
using System.Text.Json.Nodes;

namespace DeploymentRollback.EfCoreHelper;

/// <summary>
/// DeploymentRollback's EF Core helper, protocol 1: ef.dll (EF Core's own command-line tool, the one dotnet ef starts)
/// loaded once, its Main run per request with the same argument list as on the command line, so its parsing, messages
/// and exit codes are its own. Requests are one JSON object per line on stdin, {"command": ["migrations", "list", ...]};
/// each is answered with one line, {"exit": 0, "stdout": "...", "stderr": "..."}. The first line written is
/// {"ready": true, "protocol": 1}, or {"ready": false, "error": "..."} when ef.dll cannot be loaded (the module then
/// starts ef.dll per command instead). It ends at the end of stdin. It never runs code it is sent.
/// </summary>
internal static class Program
{
    private const int Protocol = 1;

    public static int Main(string[] args)
    {
        var answers = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false)) { AutoFlush = true };
        // ef.dll keeps the console writers it first sees; each request gets its own behind these.
        var output = new SwitchingWriter();
        var error = new SwitchingWriter();
        Console.SetOut(output);
        Console.SetError(error);
        MethodInfo main;
        try
        {
            main = Assembly.LoadFrom(args[0]).EntryPoint ?? throw new InvalidOperationException($"{args[0]} has no entry point.");
        }
        catch (Exception e)
        {
            answers.WriteLine(new JsonObject { ["ready"] = false, ["error"] = e.ToString() }.ToJsonString());
            return 1;
        }

        answers.WriteLine(new JsonObject { ["ready"] = true, ["protocol"] = Protocol }.ToJsonString());
        using var requests = new StreamReader(Console.OpenStandardInput(), new UTF8Encoding(false));
        while (requests.ReadLine() is { } line)
        {
            if (line.Trim().Length == 0)
            {
                continue;
            }

            var command = (JsonNode.Parse(line)?["command"] as JsonArray)?.Select(a => a?.GetValue<string>() ?? "").ToArray();
            if (command is null)
            {
                answers.WriteLine(new JsonObject { ["exit"] = 2, ["stdout"] = "", ["stderr"] = "The helper understands only {\"command\": [...]}.\n" }.ToJsonString());
                continue;
            }

            var (code, stdout, stderr) = Run(main, command, output, error);
            answers.WriteLine(new JsonObject { ["exit"] = code, ["stdout"] = stdout, ["stderr"] = stderr }.ToJsonString());
        }

        return 0;
    }

    private static (int Code, string Stdout, string Stderr) Run(MethodInfo main, string[] command, SwitchingWriter output, SwitchingWriter error)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        output.Target = stdout;
        error.Target = stderr;
        var code = 1;
        try
        {
            code = main.Invoke(null, new object[] { command }) is int exit ? exit : 0;
        }
        catch (TargetInvocationException e)
        {
            // As the process would have ended: the unhandled exception on stderr, and a failure.
            stderr.WriteLine("Unhandled exception. " + e.InnerException);
        }
        finally
        {
            output.Target = TextWriter.Null;
            error.Target = TextWriter.Null;
            ClearConnectionPools();
        }

        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>
    /// A process per command left no connection open; this one would keep the providers' pooled connections (SQLite's
    /// holds the database file open) between commands and after them, while the module copies or restores that file.
    /// Every loaded ADO.NET provider's pools are cleared after each command (SqliteConnection, NpgsqlConnection,
    /// SqlConnection and MySqlConnection each have a static ClearAllPools).
    /// </summary>
    private static void ClearConnectionPools()
    {
        foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
        {
            foreach (var name in new[] { "Microsoft.Data.Sqlite.SqliteConnection", "Npgsql.NpgsqlConnection", "Microsoft.Data.SqlClient.SqlConnection", "MySqlConnector.MySqlConnection" })
            {
                if (assembly.GetType(name, throwOnError: false)?.GetMethod("ClearAllPools", BindingFlags.Public | BindingFlags.Static, Type.EmptyTypes) is { } clear)
                {
                    try
                    {
                        clear.Invoke(null, null);
                    }
                    catch (TargetInvocationException)
                    {
                        // A provider that cannot clear its pools keeps them; the next command still works.
                    }
                }
            }
        }
    }

    /// <summary>A console writer whose target is the request being run.</summary>
    private sealed class SwitchingWriter : TextWriter
    {
        public TextWriter Target { get; set; } = TextWriter.Null;

        public override Encoding Encoding => Encoding.UTF8;

        public override void Write(char value) => Target.Write(value);

        public override void Write(string? value) => Target.Write(value);

        public override void WriteLine(string? value) => Target.WriteLine(value);

        public override void Flush() => Target.Flush();
    }
}
