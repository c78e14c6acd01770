using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace DeploymentRollback.Engine.Database;

/// <summary>
/// How dotnet ef starts its inner tool for one project: 'dotnet exec --depsfile … ef.dll &lt;command&gt; --assembly … '
/// (EF Core's documented design-time architecture: dotnet-ef reads the project's paths from MSBuild, then runs ef.dll).
/// The MSBuild evaluation is about 2 s of each ~3 s dotnet ef call here, and it gives the same paths every time, so the
/// module learns the invocation once from dotnet ef's own verbose log and then starts ef.dll itself, with the same
/// arguments. Kept per project in the local state folder; valid while the project's MSBuild inputs (the project file,
/// Directory.Build.*, Directory.Packages.props, global.json, NuGet.config, the tool manifest, the restore output) are
/// unchanged and every file it names exists.
/// </summary>
internal sealed record EfCoreDirect(string Key, IReadOnlyList<string> ExecArguments, IReadOnlyList<string> ProjectArguments)
{
    private const int Version = 1;

    // The inputs of dotnet ef's MSBuild evaluation, looked for in the project's folder and every folder above it.
    private static readonly string[] BuildInputs =
    {
        "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props", "global.json", "NuGet.config", "nuget.config",
        "dotnet-tools.json", System.IO.Path.Combine(".config", "dotnet-tools.json"),
    };

    // dotnet ef's own output options: the module passes its own.
    private static readonly string[] OutputOptions = { "--verbose", "--no-color", "--prefix-output" };

    // The options whose value is a file the invocation needs.
    private static readonly string[] FileOptions = { "--depsfile", "--runtimeconfig", "--assembly", "--startup-assembly", "--design-assembly" };

    /// <summary>The arguments for 'dotnet' that run one command (its own tokens, then the project's) through ef.dll.</summary>
    public IReadOnlyList<string> Arguments(IReadOnlyList<string> command) => ExecArguments.Concat(ToolArguments(command)).ToList();

    /// <summary>ef.dll's own arguments for one command: the command's tokens, then the project's, then the output options.</summary>
    public IReadOnlyList<string> ToolArguments(IReadOnlyList<string> command) =>
        Core(command).Concat(ProjectArguments).Concat(command.Where(OutputOptions.Contains).Where(c => c != "--prefix-output")).Append("--prefix-output").ToList();

    /// <summary>
    /// The arguments for 'dotnet' that start the module's EF Core helper the way ef.dll is started (the project's deps
    /// file and runtime configuration), with ef.dll's path as its argument.
    /// </summary>
    public IReadOnlyList<string> HelperArguments(string helper) => ExecArguments.Take(ExecArguments.Count - 1).Append(helper).Append(ExecArguments[^1]).ToList();

    /// <summary>A command without the output options (dotnet ef takes those itself and passes them after the project's).</summary>
    private static IEnumerable<string> Core(IEnumerable<string> command) => command.Where(c => !OutputOptions.Contains(c));

    /// <summary>
    /// The invocation in dotnet ef's verbose line for a command ("verbose: dotnet exec --depsfile … ef.dll migrations list
    /// --assembly … --prefix-output"), or null when the line is not one (another layout, or a .NET Framework ef.exe).
    /// </summary>
    public static EfCoreDirect? Parse(string output, IReadOnlyList<string> command, string key)
    {
        foreach (var line in EfCoreText.Lines(output, "verbose"))
        {
            var tokens = SplitArguments(line);
            var ef = tokens.FindIndex(t => System.IO.Path.GetFileName(t).Equals("ef.dll", StringComparison.OrdinalIgnoreCase));
            if (tokens.Count < 4 || tokens[1] != "exec" || ef < 2)
            {
                continue;
            }

            var assembly = tokens.IndexOf("--assembly", ef);
            if (assembly < 0 || !tokens.Skip(ef + 1).Take(assembly - ef - 1).SequenceEqual(Core(command)))
            {
                continue;
            }

            return new EfCoreDirect(key, tokens.Skip(1).Take(ef).ToList(), tokens.Skip(assembly).Where(t => !OutputOptions.Contains(t)).ToList());
        }

        return null;
    }

    /// <summary>What the project's MSBuild evaluation depends on, hashed (paths and times only: nothing secret).</summary>
    public static string KeyOf(string project, string dotnet)
    {
        var text = new StringBuilder().Append(Version).Append('\n').Append(project).Append('\n').Append(dotnet).Append('\n');
        text.Append(Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(project)))).Append('\n');
        for (var folder = System.IO.Path.GetDirectoryName(project); folder is not null; folder = System.IO.Path.GetDirectoryName(folder))
        {
            foreach (var input in BuildInputs.Select(name => System.IO.Path.Combine(folder, name)).Where(File.Exists))
            {
                text.Append(input).Append(' ').Append(Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(input)))).Append('\n');
            }
        }

        var assets = new FileInfo(System.IO.Path.Combine(System.IO.Path.GetDirectoryName(project)!, "obj", "project.assets.json"));
        text.Append(assets.Exists ? $"{assets.Length} {assets.LastWriteTimeUtc.Ticks}" : "no assets");
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>The kept invocation for the key, when every file it names still exists; else null (and a bad file is ignored).</summary>
    public static EfCoreDirect? Load(string path, string key)
    {
        try
        {
            var kept = JsonSerializer.Deserialize<EfCoreDirect>(File.ReadAllText(path));
            return kept is { ExecArguments.Count: > 1, ProjectArguments.Count: > 1 } && kept.Key == key && kept.Files().All(File.Exists) ? kept : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or NotSupportedException)
        {
            return null;
        }
    }

    /// <summary>Keeps the invocation for the next run; a state folder that cannot be written only costs the next run a dotnet ef start.</summary>
    public void Save(string path)
    {
        try
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
            AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    public static void Forget(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    private IEnumerable<string> Files()
    {
        var all = ExecArguments.Concat(ProjectArguments).ToList();
        yield return ExecArguments[^1];
        for (var i = 0; i < all.Count - 1; i++)
        {
            if (FileOptions.Contains(all[i]))
            {
                yield return all[i + 1];
            }
        }
    }

    /// <summary>
    /// A command line split as the C runtime on Windows splits it, which is how dotnet ef quotes what it logs: spaces
    /// separate, double quotes group, 2n backslashes before a quote are n backslashes, 2n+1 are n and a literal quote.
    /// </summary>
    public static List<string> SplitArguments(string line)
    {
        var arguments = new List<string>();
        var current = new StringBuilder();
        var quoted = false;
        var any = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (c == '\\')
            {
                var count = 0;
                while (i < line.Length && line[i] == '\\')
                {
                    count++;
                    i++;
                }

                if (i < line.Length && line[i] == '"')
                {
                    current.Append('\\', count / 2);
                    if (count % 2 == 1)
                    {
                        current.Append('"');
                    }
                    else
                    {
                        quoted = !quoted;
                    }
                }
                else
                {
                    current.Append('\\', count);
                    i--;
                }

                any = true;
            }
            else if (c == '"')
            {
                quoted = !quoted;
                any = true;
            }
            else if (char.IsWhiteSpace(c) && !quoted)
            {
                if (any)
                {
                    arguments.Add(current.ToString());
                    current.Clear();
                    any = false;
                }
            }
            else
            {
                current.Append(c);
                any = true;
            }
        }

        if (any)
        {
            arguments.Add(current.ToString());
        }

        return arguments;
    }
}
