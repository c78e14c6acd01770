using System.Security.Cryptography;
using System.Text;
using YamlDotNet.RepresentationModel;

namespace DeploymentRollback.Engine.DockerCompose;

/// <summary>
/// What 'config' printed for compose files that read nothing outside themselves, kept in the state folder's cache.
/// A rollback runs 'config' twice before it changes anything (the target's files, to validate them and name their
/// services and images; the project's own files, for the checkpoint), and each Compose v1 start is about half a second
/// of CPU here; a rerun, or the next rollback to the same file, would get the same answer. The answer depends only on
/// what the key holds (the CLI's version, the folder, the project name, the files' bytes, the .env files and the
/// COMPOSE_ variables) when no file interpolates ($) or names another file (extends, env_file, build, secrets,
/// configs, include): Compose then reads nothing else. Any other file is never kept, and 'config' runs every time.
/// One entry per set of files (a changed file replaces it); kept redacted, as the checkpoint redacts it.
/// </summary>
internal static class ComposeConfigCache
{
    private const int Version = 1;

    // The files Compose (v1 and v2) reads from a folder when none is named: the project's file and its override.
    private static readonly string[] DefaultNames =
    {
        "compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml",
        "compose.override.yaml", "compose.override.yml", "docker-compose.override.yml", "docker-compose.override.yaml",
    };

    // Keys under which a compose file names another file, or takes values from one.
    private static readonly HashSet<string> OutsideKeys = new(StringComparer.Ordinal) { "extends", "env_file", "build", "secrets", "configs", "include", "label_file", "dockerfile" };

    /// <summary>Where the entry for these files is kept.</summary>
    public static string EntryPath(string cacheFolder, string folder, string project, IReadOnlyList<string> files) =>
        Path.Combine(cacheFolder, "compose-config-" + Hash(string.Join('\n', new[] { folder, project }.Concat(files)))[..16] + ".txt");

    /// <summary>
    /// The key of the answer for these files (with none given, the folder's files Compose reads by default), or null
    /// when one of them reads something outside itself, or cannot be read.
    /// </summary>
    public static string? KeyOf(string cliVersion, string folder, string project, IReadOnlyList<string> files)
    {
        var read = files.Count > 0 ? files : DefaultNames.Select(name => Path.Combine(folder, name)).Where(File.Exists).ToList();
        var text = new StringBuilder().Append(Version).Append('\n').Append(cliVersion.Trim()).Append('\n').Append(folder).Append('\n').Append(project).Append('\n');
        // The .env files Compose may read: the project folder's and those of the files' folders (the first one's is its project directory).
        var envFiles = read.Select(f => Path.Combine(Path.GetDirectoryName(f)!, ".env")).Prepend(Path.Combine(folder, ".env")).Distinct().ToList();
        try
        {
            var envs = envFiles.Select(env => (Path: env, Bytes: File.Exists(env) ? File.ReadAllBytes(env) : null)).ToList();
            // Without files named, COMPOSE_FILE (from the environment or a .env) would name files the key does not hold.
            if (files.Count == 0 && (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("COMPOSE_FILE"))
                || envs.Any(env => env.Bytes is not null && Encoding.UTF8.GetString(env.Bytes).Contains("COMPOSE_FILE", StringComparison.Ordinal))))
            {
                return null;
            }

            foreach (var file in read)
            {
                var bytes = File.ReadAllBytes(file);
                if (!SelfContained(bytes))
                {
                    return null;
                }

                text.Append(file).Append(' ').Append(Hash(bytes)).Append('\n');
            }

            foreach (var (env, bytes) in envs)
            {
                text.Append(env).Append(' ').Append(bytes is null ? "none" : Hash(bytes)).Append('\n');
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        foreach (var (name, value) in Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Select(e => ((string)e.Key, e.Value as string)).Where(v => v.Item1.StartsWith("COMPOSE_", StringComparison.Ordinal)).OrderBy(v => v.Item1, StringComparer.Ordinal))
        {
            text.Append(name).Append('=').Append(value).Append('\n');
        }

        return Hash(Encoding.UTF8.GetBytes(text.ToString()));
    }

    /// <summary>The kept answer for the key, or null (none, another key, or not a configuration: it is then made again).</summary>
    public static string? Load(string path, string key)
    {
        try
        {
            var text = File.ReadAllText(path, new UTF8Encoding(false, true));
            var newline = text.IndexOf('\n');
            if (newline < 0 || text[..newline] != key)
            {
                return null;
            }

            var output = text[(newline + 1)..];
            var yaml = new YamlStream();
            yaml.Load(new StringReader(output));
            return yaml.Documents.Count == 1 && yaml.Documents[0].RootNode is YamlMappingNode root && root.Children.ContainsKey(new YamlScalarNode("services")) ? output : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or YamlDotNet.Core.YamlException or DecoderFallbackException)
        {
            return null;
        }
    }

    /// <summary>Keeps the answer (redacted) for the next run; a state folder that cannot be written only costs that run a Compose start.</summary>
    public static void Save(string path, string key, string output)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            AtomicFile.WriteAllText(path, key + "\n" + DocumentSecrets.Redact(output, "compose.config.yml"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>True when the file is YAML with no interpolation and no key that names another file.</summary>
    private static bool SelfContained(byte[] bytes)
    {
        if (Array.IndexOf(bytes, (byte)'$') >= 0)
        {
            return false;
        }

        try
        {
            var yaml = new YamlStream();
            yaml.Load(new StringReader(new UTF8Encoding(false, true).GetString(bytes)));
            return yaml.Documents.All(d => NoOutsideKeys(d.RootNode));
        }
        catch (Exception e) when (e is YamlDotNet.Core.YamlException or DecoderFallbackException)
        {
            // Compose will say what is wrong with it.
            return false;
        }
    }

    private static bool NoOutsideKeys(YamlNode node) => node switch
    {
        YamlMappingNode mapping => mapping.Children.All(p => !(p.Key is YamlScalarNode { Value: { } key } && OutsideKeys.Contains(key)) && NoOutsideKeys(p.Key) && NoOutsideKeys(p.Value)),
        YamlSequenceNode sequence => sequence.Children.All(NoOutsideKeys),
        _ => true,
    };

    private static string Hash(string text) => Hash(Encoding.UTF8.GetBytes(text));

    private static string Hash(byte[] bytes) => Convert.ToHexString(SHA256.HashData(bytes));
}
