// The one transpile step shared by the profiling loader and the profile summary.
import ts from 'typescript';

/** @returns {{ code: string, map: object }} */
export function transpile(source, path) {
  const out = ts.transpileModule(source, {
    fileName: path,
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      sourceMap: true,
      inlineSourceMap: false,
      esModuleInterop: true,
      resolveJsonModule: true,
    },
  });
  return { code: out.outputText.replace(/\n\/\/# sourceMappingURL=.*$/, ''), map: JSON.parse(out.sourceMapText) };
}
