import { OPTIONS_END, OPTIONS_START, renderOptionsMarkdown } from './options-markdown.js';

// `npm run options-table`: the block to paste into README.md between its markers.
process.stdout.write(`${OPTIONS_START}\n${renderOptionsMarkdown()}\n${OPTIONS_END}\n`);
