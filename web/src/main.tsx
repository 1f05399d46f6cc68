import { createRoot } from 'react-dom/client';
import 'diff2html/bundles/css/diff2html.min.css';
import 'highlight.js/styles/github.css';
import './styles.css';
import { App } from './app.js';

createRoot(document.getElementById('root')!).render(<App />);
